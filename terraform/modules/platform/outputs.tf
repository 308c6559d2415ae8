output "api_url" {
  description = "Public REST API base URL through CloudFront (`https://<distribution>/api`): the only way in, since the stage's web ACL admits only CloudFront."
  value       = "https://${module.cdn.domain_name}/api"
}

output "api_gateway_invoke_url" {
  description = "Invoke URL of the API Gateway stage (answers 403 unless the request came through CloudFront)."
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

output "spa_objects" {
  description = "The SPA files published to the bucket, key => MD5 of the published content (index.html with its API base)."
  value       = module.cdn.site_objects
}

output "alb_dns_name" {
  description = "DNS name of the internal ALB."
  value       = module.alb.dns_name
}

output "grpc_endpoint" {
  description = "gRPC endpoint for internal clients (TLS, HTTP/2): backend_host:443, routed by gRPC package (backend_host needs a private DNS record pointing at the ALB for them)."
  value       = "${var.backend_host}:443"
}

output "image_repository_url" {
  description = "Repository the workloads' images come from (without digest)."
  value       = local.image_repository_url
}

output "images" {
  description = "Image reference per workload (every service and migrate)."
  value       = local.images
}

output "ecs_cluster_name" {
  description = "ECS cluster name (the services run there with compute = ecs; the bootstrap task always does)."
  value       = module.ecs_cluster.cluster_name
}

output "ecs_task_definitions" {
  description = "Task definition ARN per service (empty when compute is eks)."
  value       = { for k, s in module.ecs_service : k => s.task_definition_arn }
}

output "container_definitions" {
  description = "The ECS container definition of every workload (every service and migrate), keyed by name: exactly what the task definitions hold (image, command, environment, secrets, health check, user, read-only root, /tmp mount, ports, log configuration). scripts/k8s_manifests.py and the rehearsal read this."
  value = merge(
    { for k, c in module.service_container : k => c.definition },
    { migrate = module.migrate_container.definition },
  )
}

output "services" {
  description = "The topology as resolved for this environment, keyed by service: protocol, port, gRPC packages, database and cache use, sizing (cpu, memory, min_tasks, max_tasks) and the ALB target group that serves it."
  value = {
    for n, s in var.services : n => {
      protocol         = s.protocol
      port             = s.port
      grpc_packages    = s.grpc_packages
      database         = s.database
      cache            = s.cache
      cpu              = local.sizing[n].cpu
      memory           = local.sizing[n].memory
      min_tasks        = local.sizing[n].min_tasks
      max_tasks        = local.sizing[n].max_tasks
      target_group_arn = s.protocol == "http" ? module.alb.http_target_group_arn : module.alb.grpc_target_group_arns[n]
    }
  }
}

output "migrate_task" {
  description = "What `ecs run-task` needs to run the database bootstrap (scripts/deploy.py <env> apply does): cluster, task definition ARN, container name, subnets, security group, log group."
  value = {
    cluster             = module.ecs_cluster.cluster_arn
    task_definition_arn = module.migrate.task_definition_arn
    container_name      = "migrate"
    subnets             = module.migrate.subnet_ids
    security_groups     = [module.migrate.security_group_id]
    log_group           = module.observability.log_group_names["migrate"]
    log_stream_prefix   = "migrate"
  }
}

output "kubernetes" {
  description = "What the EKS manifests need besides the containers: namespace, the image's architecture (node selector), the cluster name (null unless compute is eks)."
  value = {
    namespace    = "colonnade"
    architecture = var.cpu_architecture == "ARM64" ? "arm64" : "amd64"
    cluster_name = local.is_eks ? module.eks[0].cluster_name : null
  }
}

output "eks_cluster_name" {
  description = "EKS cluster name (null unless compute is eks)."
  value       = local.is_eks ? module.eks[0].cluster_name : null
}

output "eks_target_group_arns" {
  description = "ALB target groups for the TargetGroupBindings, keyed by service."
  value       = merge({ (local.gateway) = module.alb.http_target_group_arn }, module.alb.grpc_target_group_arns)
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

output "identity" {
  description = "The token issuer (identity module): issuer, JWKS URL, token and authorize endpoints, the web UI's client id and the scope prefix its tokens carry (what the SPA needs to sign in)."
  value = {
    issuer             = module.identity.issuer
    jwks_url           = module.identity.jwks_url
    token_endpoint     = module.identity.token_endpoint
    authorize_endpoint = module.identity.authorize_endpoint
    web_client_id      = module.identity.web_client_id
    scope_prefix       = module.identity.scope_prefix
    user_pool_id       = module.identity.user_pool_id
  }
}

output "authorizer" {
  description = "The REST API's Lambda authorizer (function name, invoke ARN, log group), or null without a package."
  value = var.authorizer.package_path == null ? null : {
    function_name  = module.authorizer[0].function_name
    invoke_arn     = module.authorizer[0].invoke_arn
    log_group_name = module.authorizer[0].log_group_name
  }
}

output "page_token_key_secret_arns" {
  description = "Secrets Manager ARN of each gRPC service's page-token keys (PAGE_TOKEN_KEYS); the live root reads the current keys from it when rotating."
  value       = { for k, s in aws_secretsmanager_secret.page_token_keys : k => s.arn }
}

output "lambda" {
  description = "The function serving the API when compute is lambda (null otherwise): its name, the live alias's ARN (what a rollback moves) and the RDS Proxy endpoint."
  value = local.is_lambda ? {
    function_name  = module.lambda[0].function_name
    alias_arn      = module.lambda[0].alias_arn
    proxy_endpoint = module.lambda[0].proxy_endpoint
    log_group_name = module.lambda[0].log_group_name
  } : null
}
