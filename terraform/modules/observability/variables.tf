variable "name" {
  description = "Name prefix (for example `colonnade-prod`): log groups are `/<name>/<service>`, the topic and dashboard are `<name>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "services" {
  description = "Services that get a log group."
  type        = set(string)
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the service log groups (CloudWatch Logs allowed value; 365+ in prod)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "access_log_expiry_days" {
  description = "Days the load balancer and CloudFront access logs are kept in S3."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.access_log_expiry_days >= 1 && var.access_log_expiry_days <= 3650
    error_message = "access_log_expiry_days must be between 1 and 3650."
  }
}

variable "force_destroy_access_logs" {
  description = "Let Terraform delete the access log bucket with its objects (dev only)."
  type        = bool
  default     = false
  nullable    = false
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = set(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must be e-mail addresses."
  }
}

variable "alb" {
  description = "The ALB to watch: its ARN suffix and its target groups' ARN suffixes keyed by service. Null: no ALB alarms."
  type = object({
    arn_suffix                = string
    target_group_arn_suffixes = map(string)
  })
  default = null
}

variable "api_gateway" {
  description = "The REST API stage to watch (5xx and latency). Null: no API Gateway alarms."
  type = object({
    api_name   = string
    stage_name = string
  })
  default = null
}

variable "aurora" {
  description = "Aurora cluster to watch (CPU and ACU utilisation); an object so that its presence is known at plan time even when the identifier is not. Null: no database alarms."
  type = object({
    cluster_id = string
  })
  default = null
}

variable "cache" {
  description = "ElastiCache cluster to watch (evictions). Null: no cache alarms."
  type = object({
    cluster_id = string
  })
  default = null
}

variable "thresholds" {
  description = "Alarm thresholds: 5xx rate in percent of requests, p99 latency in seconds, Aurora CPU and ACU utilisation in percent, cache evictions per 5 minutes; for the services' own metrics: server-error rate in percent of calls, p99 call latency in seconds, minutes a cache may stay degraded, acquisitions per minute that may find the database pool exhausted."
  type = object({
    error_rate_percent           = optional(number, 1)
    p99_latency_seconds          = optional(number, 1)
    aurora_cpu_percent           = optional(number, 80)
    aurora_acu_percent           = optional(number, 90)
    cache_evictions_per5m        = optional(number, 100)
    service_error_rate_percent   = optional(number, 1)
    service_p99_seconds          = optional(number, 0.5)
    cache_degraded_minutes       = optional(number, 5)
    db_pool_exhausted_per_minute = optional(number, 10)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.thresholds.cache_degraded_minutes >= 1 && var.thresholds.cache_degraded_minutes <= 60 && var.thresholds.service_p99_seconds > 0
    error_message = "cache_degraded_minutes must be 1-60 and service_p99_seconds positive."
  }
}

variable "application" {
  description = "The services' own metrics, written as CloudWatch EMF lines into their logs (colonnade.runtime.emf; namespace `namespace`): `rpc_services` (gRPC: calls, server errors, p99 by Service and Method), `http_services` (the gateway: requests, 5xx, p99 by Service and Route), `cache_services` (cache degraded) and `database_services` (pool exhaustion). Each gets alarms and dashboard widgets. Null: none."
  type = object({
    namespace         = optional(string, "Colonnade")
    rpc_services      = optional(set(string), [])
    http_services     = optional(set(string), [])
    cache_services    = optional(set(string), [])
    database_services = optional(set(string), [])
  })
  default = null
}

variable "kms_key_arn" {
  description = "KMS key for the log groups and the alarm topic. Null creates a customer managed key with rotation whose policy lets CloudWatch Logs use it for `/<name>/*`, `aws-waf-logs-<name>*` and `/aws/lambda/<name>-*` groups (share it with the api-gateway and authorizer modules) and CloudWatch alarms publish to the encrypted topic."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
