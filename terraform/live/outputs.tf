output "api_url" {
  description = "Public REST API base URL (CloudFront /api)."
  value       = module.platform.api_url
}

output "api_gateway_invoke_url" {
  description = "API Gateway stage invoke URL (reachable only through CloudFront)."
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

output "spa_objects" {
  description = "SPA files published, key => MD5 of the published content."
  value       = module.platform.spa_objects
}

output "alb_dns_name" {
  description = "Internal ALB DNS name."
  value       = module.platform.alb_dns_name
}

output "grpc_endpoint" {
  description = "gRPC endpoint for internal clients."
  value       = module.platform.grpc_endpoint
}

output "image_repository_url" {
  description = "Repository the images come from."
  value       = module.platform.image_repository_url
}

output "images" {
  description = "Image reference per workload."
  value       = module.platform.images
}

output "container_definitions" {
  description = "ECS container definition of every workload (services and migrate): what ECS runs, what scripts/k8s_manifests.py and the rehearsal read."
  value       = module.platform.container_definitions
}

output "services" {
  description = "The topology resolved for this environment (protocol, port, packages, sizing, target group)."
  value       = module.platform.services
}

output "migrate_task" {
  description = "What `ecs run-task` needs for the database bootstrap (scripts/deploy.py uses it)."
  value       = module.platform.migrate_task
}

output "kubernetes" {
  description = "Namespace, image architecture and cluster name for the EKS manifests."
  value       = module.platform.kubernetes
}

output "ecs_cluster_name" {
  description = "ECS cluster."
  value       = module.platform.ecs_cluster_name
}

output "ecs_task_definitions" {
  description = "Task definition ARN per service (compute = ecs)."
  value       = module.platform.ecs_task_definitions
}

output "eks_cluster_name" {
  description = "EKS cluster (compute = eks)."
  value       = module.platform.eks_cluster_name
}

output "eks_target_group_arns" {
  description = "Target groups for the TargetGroupBindings."
  value       = module.platform.eks_target_group_arns
}

output "aurora_endpoint" {
  description = "Aurora writer endpoint."
  value       = module.platform.aurora_endpoint
}

output "cache_endpoint" {
  description = "Memcached configuration endpoint."
  value       = module.platform.cache_endpoint
}

output "alarm_topic_arn" {
  description = "Alarm topic."
  value       = module.platform.alarm_topic_arn
}

output "identity" {
  description = "The token issuer: issuer, JWKS URL, token and authorize endpoints, the web client id and scope prefix (the SPA signs in with these)."
  value       = module.platform.identity
}

output "token_issuer" {
  description = "The `iss` of the environment's tokens (the Cognito user pool)."
  value       = module.platform.identity.issuer
}

output "token_endpoint" {
  description = "The OAuth 2.0 token endpoint (client credentials; the SPA's code exchange)."
  value       = module.platform.identity.token_endpoint
}

output "web_client_id" {
  description = "The web UI's public app client (authorization code with PKCE)."
  value       = module.platform.identity.web_client_id
}

output "authorizer" {
  description = "The REST API's Lambda authorizer (function name, invoke ARN, log group), or null without lambda_package."
  value       = module.platform.authorizer
}
