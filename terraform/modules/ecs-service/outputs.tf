output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "service_id" {
  description = "ECS service ARN."
  value       = aws_ecs_service.this.id
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "image" {
  description = "Image reference the task definition runs."
  value       = local.container.image
}

output "security_group_id" {
  description = "Security group of the tasks (allow it on Aurora, the cache and other services)."
  value       = aws_security_group.this.id
}

output "task_role_arn" {
  description = "Application (task) role ARN."
  value       = aws_iam_role.task.arn
}

output "execution_role_arn" {
  description = "ECS agent (execution) role ARN."
  value       = aws_iam_role.execution.arn
}

output "service_connect_endpoint" {
  description = "Address other services use through Service Connect (null when not published)."
  value       = var.publish_in_namespace ? "${var.name}:${var.container_port}" : null
}
