variable "name" {
  description = "Name of the web ACL (for example `colonnade-prod-edge`); its log group is `aws-waf-logs-<name>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "rate_limit" {
  description = "Requests per 5 minutes from one client address before the web ACL blocks it (CloudFront scope: the address is the viewer's)."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.rate_limit >= 10 && var.rate_limit <= 2000000000
    error_message = "rate_limit must be between 10 (WAF's minimum) and 2e9."
  }
}

variable "log_retention_days" {
  description = "Retention of the WAF log group (CloudWatch Logs allowed value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
