output "api_url" {
  description = "Public REST API base URL (CloudFront /api)."
  value       = module.platform.api_url
}

output "api_gateway_invoke_url" {
  description = "API Gateway stage invoke URL."
  value       = module.platform.api_gateway_invoke_url
}

output "cloudfront_domain" {
  description = "CloudFront domain of the SPA and the API."
  value       = module.platform.cloudfront_domain
}

output "cloudfront_distribution_id" {
  description = "CloudFront distribution ID."
  value       = module.platform.cloudfront_distribution_id
}

output "spa_bucket" {
  description = "SPA bucket."
  value       = module.platform.spa_bucket
}

output "alb_dns_name" {
  description = "Internal ALB DNS name."
  value       = module.platform.alb_dns_name
}

output "grpc_endpoint" {
  description = "gRPC endpoint for internal clients."
  value       = module.platform.grpc_endpoint
}

output "ecr_repository_urls" {
  description = "ECR repositories per service."
  value       = module.platform.ecr_repository_urls
}

output "ecs_cluster_name" {
  description = "ECS cluster (compute = ecs)."
  value       = module.platform.ecs_cluster_name
}

output "eks_cluster_name" {
  description = "EKS cluster (compute = eks)."
  value       = module.platform.eks_cluster_name
}

output "eks_target_group_arns" {
  description = "Target groups for TargetGroupBindings (compute = eks)."
  value       = module.platform.eks_target_group_arns
}

output "alarm_topic_arn" {
  description = "Alarm topic."
  value       = module.platform.alarm_topic_arn
}
