variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "colonnade"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.project))
    error_message = "project must be 2-12 lower-case letters and digits."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod. It picks the data modules' defaults and names the API stage."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "availability_zones" {
  description = "Exactly three Availability Zones of the region."
  type        = list(string)

  validation {
    condition     = length(distinct(var.availability_zones)) == 3
    error_message = "availability_zones must list three distinct AZs."
  }
}

variable "vpc_cidr" {
  description = "VPC CIDR (/16): per AZ a /20 private, a /24 public and a /24 database subnet are carved from it."
  type        = string
  default     = "10.0.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a /16 IPv4 CIDR."
  }
}

variable "nat_gateway_mode" {
  description = "`per_az` (HA, staging and prod) or `single` (dev)."
  type        = string
  default     = "per_az"
  nullable    = false
}

variable "compute" {
  description = "Where the services run: `ecs` (Fargate services managed here) or `eks` (an EKS cluster; the services are deployed from the manifests scripts/k8s_manifests.py generates, bound to the same ALB target groups)."
  type        = string
  default     = "ecs"
  nullable    = false

  validation {
    condition     = contains(["ecs", "eks"], var.compute)
    error_message = "compute must be ecs or eks."
  }
}

variable "image_tags" {
  description = "Image tag per service (gateway, catalog, orders): the rollout knob. It lives in the environment's images.auto.tfvars.json, which `scripts/set_image_tags.py` rewrites before `scripts/deploy.py <env> apply`, so git, state and the running tasks agree and the next plan is clean."
  type        = map(string)

  validation {
    condition     = alltrue([for s in ["gateway", "catalog", "orders"] : contains(keys(var.image_tags), s)])
    error_message = "image_tags needs a tag for gateway, catalog and orders."
  }
}

variable "services" {
  description = "Sizing per service: Fargate CPU/memory, and the autoscaling floor/ceiling (the floor is also the initial count). Prod keeps min_tasks >= 2."
  type = map(object({
    cpu       = optional(number, 512)
    memory    = optional(number, 1024)
    min_tasks = optional(number, 1)
    max_tasks = optional(number, 4)
  }))
  default = {
    gateway = {}
    catalog = {}
    orders  = {}
  }
  nullable = false

  validation {
    condition     = alltrue([for s in ["gateway", "catalog", "orders"] : contains(keys(var.services), s)])
    error_message = "services needs an entry for gateway, catalog and orders."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.min_tasks >= 1 && s.min_tasks <= s.max_tasks])
    error_message = "Every service needs 1 <= min_tasks <= max_tasks."
  }
}

variable "service_environment" {
  description = "Extra plain environment variables per service (service => name => value)."
  type        = map(map(string))
  default     = {}
  nullable    = false
}

variable "service_secrets" {
  description = "Extra Secrets Manager-backed environment variables per service (service => name => secret ARN)."
  type        = map(map(string))
  default     = {}
  nullable    = false
}

variable "fargate_spot_weight" {
  description = "FARGATE_SPOT weight against FARGATE's 1 beyond the first task of each service (0 = no Spot)."
  type        = number
  default     = 0
  nullable    = false
}

variable "requests_per_target" {
  description = "ALB requests per task per minute that trigger a scale-out of the REST gateway."
  type        = number
  default     = 1000
  nullable    = false
}

variable "aurora" {
  description = "Aurora Serverless v2 sizing: min ACUs (0 = scale to zero, dev only), max ACUs and instance count (null: 1 dev, 2 staging, 3 prod)."
  type = object({
    min_capacity   = number
    max_capacity   = number
    instance_count = optional(number)
  })
  default = { min_capacity = 0.5, max_capacity = 8 }
}

variable "cache" {
  description = "Memcached sizing."
  type = object({
    node_type       = string
    num_cache_nodes = number
  })
  default = { node_type = "cache.t4g.small", num_cache_nodes = 3 }
}

variable "eks" {
  description = "EKS settings, used when compute is eks."
  type = object({
    kubernetes_version     = optional(string, "1.33")
    instance_types         = optional(list(string), ["m7g.large"])
    nodes_per_az           = optional(object({ min = number, desired = number, max = number }), { min = 1, desired = 1, max = 3 })
    endpoint_public_access = optional(bool, false)
    public_access_cidrs    = optional(list(string), [])
    admin_principal_arns   = optional(map(string), {})
  })
  default  = {}
  nullable = false
}

variable "certificate_arn" {
  description = "ACM certificate (in the environment's region) of the ALB's HTTPS listener; it must cover backend_host."
  type        = string
}

variable "backend_host" {
  description = "Host name API Gateway calls through the VPC link and internal gRPC clients use (covered by certificate_arn). Null: the VPC link NLB's DNS name."
  type        = string
  default     = null
}

variable "alb_ingress_cidrs" {
  description = "Extra CIDRs allowed to reach the internal ALB (for example a peered corporate network), keyed by name. The VPC is always allowed."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancers (prod). Aurora follows the environment's defaults."
  type        = bool
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the service log groups."
  type        = number
  default     = 365
  nullable    = false
}

variable "alarm_emails" {
  description = "E-mail addresses that receive the alarms."
  type        = set(string)
  default     = []
  nullable    = false
}

variable "openapi_body" {
  description = "The API Gateway OpenAPI 3.0 document (JSON text) imported as the REST API."
  type        = string
}

variable "api" {
  description = "API Gateway stage settings: throttling, optional cache size, usage plans and WAF."
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
  default  = {}
  nullable = false
}

variable "manage_api_gateway_account" {
  description = "Set the account-wide API Gateway CloudWatch role from this environment (one environment per account)."
  type        = bool
  default     = true
  nullable    = false
}

variable "cdn" {
  description = "CloudFront settings: custom domain names with their us-east-1 certificate, a CLOUDFRONT-scope web ACL, price class."
  type = object({
    aliases             = optional(list(string), [])
    acm_certificate_arn = optional(string)
    web_acl_arn         = optional(string)
    price_class         = optional(string, "PriceClass_100")
  })
  default  = {}
  nullable = false
}

variable "ecr_replication_regions" {
  description = "Regions ECR replicates the images to (set it in one environment per account, usually prod)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "backup_copy_vault_arn" {
  description = "Backup vault in the DR region that receives a copy of every Aurora recovery point (null: no copy)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (the root's provider default_tags add Project/Environment)."
  type        = map(string)
  default     = {}
  nullable    = false
}
