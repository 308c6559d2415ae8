output "definition" {
  description = "The container definition as an object (ECS field names), for `jsonencode([...])` in a task definition and for outputs."
  value       = local.definition
}

output "port_name" {
  description = "Name of the port mapping (`grpc` or `http`; null without a port), the Service Connect port name."
  value       = var.port == null ? null : local.port_name
}

output "secret_arns" {
  description = "Secrets Manager secret ARNs the container reads (without JSON key suffixes), for the execution role's policy. One per variable (not deduplicated), so its length is known at plan time even when an ARN is not."
  value       = [for k in sort(keys(var.secrets)) : join(":", slice(split(":", var.secrets[k]), 0, 7))]
}
