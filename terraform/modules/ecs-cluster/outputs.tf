output "cluster_name" {
  description = "Cluster name."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "Cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "service_connect_namespace_arn" {
  description = "ARN of the Cloud Map HTTP namespace used by Service Connect."
  value       = aws_service_discovery_http_namespace.this.arn
}

output "service_connect_namespace_name" {
  description = "Name of the Service Connect namespace."
  value       = aws_service_discovery_http_namespace.this.name
}

output "capacity_provider_strategy" {
  description = "Default capacity provider strategy (services inherit it)."
  value = concat(
    [{ capacity_provider = "FARGATE", base = var.fargate_base, weight = 1 }],
    var.fargate_spot_weight > 0 ? [{ capacity_provider = "FARGATE_SPOT", base = 0, weight = var.fargate_spot_weight }] : [],
  )
}

output "kms_key_arn" {
  description = "KMS key of ECS Exec sessions."
  value       = local.kms_key_arn
}
