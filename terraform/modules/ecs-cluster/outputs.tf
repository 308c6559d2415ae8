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

# Read from the association resource, not rebuilt from the variables: a
# service created with a FARGATE_SPOT strategy before the providers are
# attached to the cluster is refused, so consumers must wait for it.
output "capacity_provider_strategy" {
  description = "Default capacity provider strategy (services inherit it), known once FARGATE and FARGATE_SPOT are attached to the cluster."
  value = [
    for s in aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy : {
      capacity_provider = s.capacity_provider
      base              = s.base
      weight            = s.weight
    }
  ]
}

output "kms_key_arn" {
  description = "KMS key of ECS Exec sessions."
  value       = local.kms_key_arn
}
