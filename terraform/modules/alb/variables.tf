variable "name" {
  description = "Load balancer name (for example `colonnade-prod`); target groups are named `<name>-<key>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 lower-case letters, digits and hyphens (target group names add a suffix and AWS caps them at 32)."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and its targets."
  type        = string
}

variable "subnet_ids" {
  description = "Subnet IDs keyed by Availability Zone: private subnets for an internal ALB, public ones for an internet-facing ALB."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "The load balancer must span at least three AZs."
  }
}

variable "internal" {
  description = "Internal ALB (reached through the API Gateway VPC link and by internal gRPC clients) or internet-facing."
  type        = bool
  default     = true
  nullable    = false
}

variable "certificate_arn" {
  description = "ACM certificate ARN of the HTTPS listener (gRPC needs TLS and HTTP/2 end to end from the client)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2+ only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]|FS-1-2|TLS-1-2)", var.ssl_policy))
    error_message = "ssl_policy must be a TLS 1.2+ ELB security policy."
  }
}

variable "ingress_cidr_blocks" {
  description = "CIDR blocks allowed to reach ports 80/443, keyed by a stable name (for example `{ vpc = \"10.0.0.0/16\" }`)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for c in values(var.ingress_cidr_blocks) : can(cidrhost(c, 0))])
    error_message = "ingress_cidr_blocks values must be IPv4 CIDRs."
  }
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach port 443, keyed by a stable name (for example the API Gateway VPC link's NLB)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "http_target" {
  description = "The REST gateway's target group: default route of the HTTPS listener."
  type = object({
    name              = string
    port              = number
    health_check_path = optional(string, "/healthz")
  })
  default = { name = "gateway", port = 8080 }
}

variable "grpc_targets" {
  description = "gRPC target groups (protocol version GRPC, health checked with grpc.health.v1.Health/Check, success code 0) keyed by service, each routed by gRPC path patterns such as `/colonnade.catalog.v1.*` (a gRPC path is `/<package>.<Service>/<Method>`)."
  type = map(object({
    port          = number
    path_patterns = list(string)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for t in values(var.grpc_targets) : length(t.path_patterns) >= 1 && length(t.path_patterns) <= 5 && alltrue([for p in t.path_patterns : startswith(p, "/")])])
    error_message = "Each gRPC target needs 1-5 path patterns starting with /."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer (prod)."
  type        = bool
  default     = true
  nullable    = false
}

variable "access_logs_bucket" {
  description = "S3 bucket that receives the access logs (SSE-S3, with the ELB log delivery policy: the observability module's access_logs_bucket)."
  type        = string
}

variable "idle_timeout" {
  description = "Idle timeout in seconds (long enough for gRPC server streams)."
  type        = number
  default     = 120
  nullable    = false

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "web_acl_arn" {
  description = "Regional WAFv2 web ACL to associate; null for none."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
