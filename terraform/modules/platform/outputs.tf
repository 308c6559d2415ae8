output "api_url" {
  description = "Public REST API base URL through CloudFront (`https://<distribution>/api`)."
  value       = "https://${module.cdn.domain_name}/api"
}

output "api_gateway_invoke_url" {
  description = "Invoke URL of the API Gateway stage (bypasses CloudFront)."
  value       = module.api_gateway.invoke_url
}

output "cloudfront_domain" {
  description = "CloudFront domain name serving the SPA and /api/*."
  value       = module.cdn.domain_name
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution ID (invalidate after publishing the SPA)."
  value       = module.cdn.distribution_id
}

output "spa_bucket" {
  description = "Bucket the SPA is published to."
  value       = module.cdn.spa_bucket
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB."
  value       = module.alb.dns_name
}

output "grpc_endpoint" {
  description = "gRPC endpoint for internal clients (TLS, HTTP/2): host:443 on the ALB, routed to each service by its gRPC package."
  value       = "${coalesce(var.backend_host, module.alb.dns_name)}:443"
}

output "ecr_repository_urls" {
  description = "ECR repository URLs keyed by service."
  value       = module.ecr.repository_urls
}

output "ecs_cluster_name" {
  description = "ECS cluster name (null when compute is eks)."
  value       = local.is_ecs ? module.ecs_cluster[0].cluster_name : null
}

output "ecs_task_definitions" {
  description = "Task definition ARN per service (empty when compute is eks)."
  value       = { for k, s in module.ecs_service : k => s.task_definition_arn }
}

output "eks_cluster_name" {
  description = "EKS cluster name (null when compute is ecs)."
  value       = local.is_ecs ? null : module.eks[0].cluster_name
}

output "eks_target_group_arns" {
  description = "ALB target groups for the AWS Load Balancer Controller's TargetGroupBindings (gateway and the gRPC services)."
  value       = merge({ gateway = module.alb.http_target_group_arn }, module.alb.grpc_target_group_arns)
}

output "aurora_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.aurora.endpoint
}

output "cache_endpoint" {
  description = "Memcached configuration endpoint."
  value       = module.cache.configuration_endpoint
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.observability.alarm_topic_arn
}

output "vpc_id" {
  description = "VPC ID."
  value       = module.network.vpc_id
}
