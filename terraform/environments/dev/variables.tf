variable "environment" {
  description = "dev, staging or prod (set in terraform.tfvars)."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "availability_zones" {
  description = "The three AZs the environment spans."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "VPC CIDR (/16)."
  type        = string
}

variable "nat_gateway_mode" {
  description = "per_az or single."
  type        = string
}

variable "compute" {
  description = "ecs or eks."
  type        = string
  default     = "ecs"
}

variable "image_tags" {
  description = "Image tag per service; kept in images.auto.tfvars.json and rewritten by scripts/set_image_tags.py."
  type        = map(string)
}

variable "services" {
  description = "Sizing per service (see modules/platform)."
  type = map(object({
    cpu       = optional(number, 512)
    memory    = optional(number, 1024)
    min_tasks = optional(number, 1)
    max_tasks = optional(number, 4)
  }))
}

variable "service_environment" {
  description = "Extra plain environment variables per service."
  type        = map(map(string))
  default     = {}
}

variable "service_secrets" {
  description = "Extra Secrets Manager-backed environment variables per service."
  type        = map(map(string))
  default     = {}
}

variable "fargate_spot_weight" {
  description = "FARGATE_SPOT weight (0 = none)."
  type        = number
  default     = 0
}

variable "aurora" {
  description = "Aurora Serverless v2 sizing."
  type = object({
    min_capacity   = number
    max_capacity   = number
    instance_count = optional(number)
  })
}

variable "cache" {
  description = "Memcached sizing."
  type = object({
    node_type       = string
    num_cache_nodes = number
  })
}

variable "eks" {
  description = "EKS settings (compute = eks)."
  type = object({
    kubernetes_version     = optional(string, "1.33")
    instance_types         = optional(list(string), ["m7g.large"])
    nodes_per_az           = optional(object({ min = number, desired = number, max = number }), { min = 1, desired = 1, max = 3 })
    endpoint_public_access = optional(bool, false)
    public_access_cidrs    = optional(list(string), [])
    admin_principal_arns   = optional(map(string), {})
  })
  default = {}
}

variable "certificate_arn" {
  description = "ACM certificate of the ALB's HTTPS listener. Account-specific: pass it with TF_VAR_certificate_arn or an untracked *.auto.tfvars file (see README)."
  type        = string
}

variable "backend_host" {
  description = "Host name behind the ALB certificate used by API Gateway and gRPC clients (null: the NLB DNS name)."
  type        = string
  default     = null
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancers."
  type        = bool
}

variable "log_retention_days" {
  description = "Retention of the service log groups."
  type        = number
}

variable "alarm_emails" {
  description = "Alarm recipients."
  type        = set(string)
  default     = []
}

variable "openapi_document_path" {
  description = "Path of the API Gateway OpenAPI document; null uses the committed openapi/colonnade.apigateway.json."
  type        = string
  default     = null
}

variable "api" {
  description = "API Gateway stage settings (see modules/platform)."
  type = object({
    throttling_rate_limit  = optional(number, 1000)
    throttling_burst_limit = optional(number, 500)
    cache_cluster_size     = optional(string)
    create_web_acl         = optional(bool, true)
    usage_plans = optional(map(object({
      rate_limit   = number
      burst_limit  = number
      quota_limit  = optional(number)
      quota_period = optional(string, "MONTH")
      api_keys     = set(string)
    })), {})
  })
  default = {}
}

variable "manage_api_gateway_account" {
  description = "Set the account-wide API Gateway CloudWatch role from this environment."
  type        = bool
  default     = true
}

variable "cdn" {
  description = "CloudFront settings (see modules/platform)."
  type = object({
    aliases             = optional(list(string), [])
    acm_certificate_arn = optional(string)
    web_acl_arn         = optional(string)
    price_class         = optional(string, "PriceClass_100")
  })
  default = {}
}

variable "ecr_replication_regions" {
  description = "ECR replication regions."
  type        = list(string)
  default     = []
}

variable "backup_copy_vault_arn" {
  description = "DR-region backup vault for Aurora recovery point copies."
  type        = string
  default     = null
}
