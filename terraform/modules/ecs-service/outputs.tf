output "service_name" {
  description = "ECS service name (null for a one-shot task definition)."
  value       = var.create_service ? aws_ecs_service.this[0].name : null
}

output "service_id" {
  description = "ECS service ARN (null for a one-shot task definition)."
  value       = var.create_service ? aws_ecs_service.this[0].id : null
}

output "task_definition_arn" {
  description = "ARN (with revision) of the task definition (what the service runs, or what `ecs run-task` starts)."
  value       = aws_ecs_task_definition.this.arn
}

output "task_definition_family" {
  description = "Family of the task definition (`<name_prefix>-<name>`)."
  value       = aws_ecs_task_definition.this.family
}

output "image" {
  description = "Image reference the task definition runs."
  value       = var.container_definition.image
}

output "security_group_id" {
  description = "Security group of the tasks (allow it on Aurora, the cache and other services)."
  value       = aws_security_group.this.id
}

output "subnet_ids" {
  description = "Subnets the tasks run in, in AZ order (what `ecs run-task` needs for a one-shot task)."
  value       = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
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
  value       = var.create_service && var.publish_in_namespace ? "${var.name}:${var.container_port}" : null
}

output "container_definitions" {
  description = "The task's container definitions: the service's own, then its sidecars."
  value       = concat([var.container_definition], var.sidecar_definitions)
}
