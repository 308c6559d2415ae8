variable "environment" {
  description = "dev, staging or prod (set in the environment's terraform.tfvars)."
  type        = string
}

variable "region" {
  description = "AWS Region of the environment."
  type        = string
}

variable "availability_zones" {
  description = "The three AZs the environment spans."
  type        = list(string)
}

variable "vpc_cidr" {
  description = "VPC CIDR (/16); distinct per environment of an account."
  type        = string
}

variable "nat_gateway_mode" {
  description = "per_az or single."
  type        = string
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints (null: the network module's default set); each costs per AZ and hour."
  type        = set(string)
  default     = null
}

variable "compute" {
  description = "ecs, eks or lambda (one function from lambda_package serving the API; see modules/platform)."
  type        = string
  default     = "ecs"
}

variable "cpu_architecture" {
  description = "Architecture the release builds the image for (X86_64 or ARM64)."
  type        = string
  default     = "X86_64"
}

variable "services" {
  description = "The service topology (terraform/live/services.auto.tfvars; see modules/platform)."
  type = map(object({
    command       = list(string)
    protocol      = string
    port          = number
    grpc_packages = optional(list(string), [])
    health_path   = optional(string, "/readyz")
    database      = optional(bool, false)
    cache         = optional(bool, false)
    environment   = optional(map(string), {})
    secrets       = optional(map(string), {})
    identity = optional(object({
      delegate = optional(bool, false)
      scopes   = optional(list(string), [])
    }))
    sizing = map(object({
      cpu       = number
      memory    = number
      min_tasks = number
      max_tasks = number
    }))
  }))
}

variable "image_repository" {
  description = "The image's ECR repository name (the account root's), or a full url (the rehearsal's local registry)."
  type = object({
    name = optional(string, "colonnade")
    url  = optional(string)
  })
  default = {}
}

variable "image_digests" {
  description = "Image digest (sha256:...) per service and for migrate; written by the release into the environment's images.auto.tfvars.json."
  type        = map(string)
}

variable "migrate" {
  description = "The database bootstrap task's command and size (see modules/platform)."
  type = object({
    command = optional(list(string), ["colonnade-migrate"])
    cpu     = optional(number, 256)
    memory  = optional(number, 512)
  })
  default = {}
}

variable "fargate_spot_weight" {
  description = "FARGATE_SPOT weight (0 = none; ARM64 images cannot use Spot)."
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
  description = "EKS settings (compute = eks), see modules/platform."
  type = object({
    kubernetes_version     = optional(string, "1.33")
    endpoint_public_access = optional(bool, false)
    public_access_cidrs    = optional(list(string), [])
    api_access_cidrs       = optional(map(string), {})
    admin_role_names       = optional(list(string), [])
    admin_principal_arns   = optional(map(string), {})
  })
  default = {}
}

variable "certificate_arn" {
  description = "ACM certificate of the ALB's HTTPS listener (publicly trusted, covering backend_host). Account-specific: pass it with TF_VAR_certificate_arn or an untracked *.auto.tfvars file (see README)."
  type        = string
}

variable "certificate_domain_names" {
  description = "Names certificate_arn is issued for (domain and SANs)."
  type        = list(string)
}

variable "backend_host" {
  description = "Host name API Gateway and internal gRPC clients use for the ALB, covered by the certificate."
  type        = string
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancers."
  type        = bool
}

variable "page_token_key_version" {
  description = "Generation of the gRPC services' page-token signing keys. Raise it by one to rotate them: a new random key signs, the previous one still verifies; terraform/README.md."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Retention of the service and WAF log groups."
  type        = number
}

variable "observability" {
  description = "Metrics and traces of the services. Metrics: CloudWatch EMF lines in the logs every `emf_interval_seconds` (0: none), so CloudWatch makes metrics of them with no agent. Traces (`tracing`): spans over OTLP to an ADOT collector sidecar (`collector_image`) that sends them to X-Ray; requests arriving without a traceparent are sampled with `trace_sample_ratio`. Access log: the gRPC services write an access line for this share of their successful calls (`access_log_sample`; failed calls always get one; metrics and traces count every call). `thresholds`: the alarm thresholds (the observability module's `thresholds`; unset ones keep its defaults)."
  type = object({
    emf_interval_seconds = optional(number, 60)
    tracing              = optional(bool, false)
    trace_sample_ratio   = optional(number, 0.05)
    access_log_sample    = optional(number, 0.01)
    collector_image      = optional(string, "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1")
    thresholds = optional(object({
      error_rate_percent           = optional(number)
      p99_latency_seconds          = optional(number)
      aurora_cpu_percent           = optional(number)
      aurora_acu_percent           = optional(number)
      cache_evictions_per5m        = optional(number)
      service_error_rate_percent   = optional(number)
      service_p99_seconds          = optional(number)
      cache_degraded_minutes       = optional(number)
      db_pool_exhausted_per_minute = optional(number)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.observability.trace_sample_ratio >= 0 && var.observability.trace_sample_ratio <= 1 && var.observability.emf_interval_seconds >= 0 && var.observability.access_log_sample >= 0 && var.observability.access_log_sample <= 1
    error_message = "trace_sample_ratio and access_log_sample must be between 0 and 1, emf_interval_seconds 0 or more."
  }
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
    cache_ttl_seconds      = optional(number, 60)
    create_web_acl         = optional(bool, true)
    usage_plans = optional(map(object({
      rate_limit   = number
      burst_limit  = number
      quota_limit  = optional(number)
      quota_period = optional(string, "MONTH")
      api_keys     = set(string)
    })), {})
    web = optional(object({
      rate_limit   = number
      burst_limit  = number
      quota_limit  = optional(number)
      quota_period = optional(string, "DAY")
    }), { rate_limit = 50, burst_limit = 100 })
  })
  default = {}
}

variable "lambda_package" {
  description = "The Lambda zip `make lambda` builds (build/lambda/colonnade-lambda-py3.11-x86_64.zip), which scripts/deploy.py passes when it exists: the REST API's authorizer runs colonnade.gateway.authorizer.handler from it. null: no authorizer (the document's colonnade_jwt scheme is dropped with a warning; the gateway alone verifies tokens)."
  type        = string
  default     = null
}

variable "lambda" {
  description = "Sizing of the function that serves the API when compute is lambda (see modules/platform; the code is lambda_package): runtime, memory, timeout (at most 29 s), reserved and provisioned concurrency, SnapStart, maintenance schedule."
  type = object({
    runtime                 = optional(string, "python3.11")
    memory_size             = optional(number, 1024)
    timeout                 = optional(number, 29)
    reserved_concurrency    = optional(number, 20)
    provisioned_concurrency = optional(number, 0)
    snap_start              = optional(bool, false)
    maintenance_schedule    = optional(string, "rate(1 minute)")
  })
  default  = {}
  nullable = false
}

variable "authorizer" {
  description = "Sizing of the REST API's Lambda authorizer (see modules/authorizer): reserved concurrency, memory, timeout (at most 10 s)."
  type = object({
    reserved_concurrency = optional(number, 20)
    memory_size          = optional(number, 512)
    timeout              = optional(number, 6)
  })
  default  = {}
  nullable = false
}

variable "cdn" {
  description = "CloudFront settings: custom domains with their us-east-1 certificate, price class, and the per-client rate limit (requests per 5 minutes) of its web ACL."
  type = object({
    aliases             = optional(list(string), [])
    acm_certificate_arn = optional(string)
    price_class         = optional(string, "PriceClass_100")
    rate_limit          = optional(number, 2000)
  })
  default = {}
}

variable "backup_copy" {
  description = "Where Aurora recovery points are copied: the account root's DR vault (its Region and name). Required in prod: without it a lost Region loses everything."
  type = object({
    region     = string
    vault_name = string
  })
  default = null

  validation {
    condition     = var.environment != "prod" || var.backup_copy != null
    error_message = "prod must copy its backups to the DR vault (backup_copy = { region, vault_name } of the account root)."
  }

  validation {
    condition     = var.backup_copy == null || try(var.backup_copy.region != var.region, false)
    error_message = "backup_copy must name a vault in another Region than the environment's."
  }
}
