variable "name" {
  description = "Container name (the service name, or `migrate`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1-31 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "image" {
  description = "Image reference: `<repository>@sha256:<64 hex>` (what releases write) or `<repository>:<tag>` (a first deploy before any digest exists; never `latest`)."
  type        = string

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*@sha256:[0-9a-f]{64}$", var.image)) ||
      (can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9][a-z0-9._/-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image)) && !endswith(var.image, ":latest"))
    )
    error_message = "image must be <registry>/<repository>@sha256:<64 lower-case hex digits> or <registry>/<repository>:<tag> with a tag other than latest."
  }
}

variable "command" {
  description = "Command the one image runs for this container (a console script, for example `[\"colonnade-catalog\"]`)."
  type        = list(string)

  validation {
    condition     = length(var.command) > 0 && alltrue([for c in var.command : length(c) > 0])
    error_message = "command must name the process to run."
  }
}

variable "port" {
  description = "Port the container listens on (null for a one-shot task)."
  type        = number
  default     = null

  validation {
    condition     = var.port == null || try(var.port > 0 && var.port < 65536, false)
    error_message = "port must be a TCP port."
  }
}

variable "app_protocol" {
  description = "Protocol of port for Service Connect: `grpc` or `http`."
  type        = string
  default     = "grpc"
  nullable    = false

  validation {
    condition     = contains(["grpc", "http", "http2"], var.app_protocol)
    error_message = "app_protocol must be grpc, http or http2."
  }
}

variable "environment" {
  description = "Plain environment variables (name => value). No secrets: they end up in the task definition."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k))])
    error_message = "environment names must be shell identifiers."
  }
}

variable "secrets" {
  description = "Variables ECS fills from Secrets Manager at task start: name => secret ARN (optionally `<arn>:<json-key>::`)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for v in values(var.secrets) : can(regex("^arn:aws[a-z-]*:secretsmanager:", v))])
    error_message = "secrets values must be Secrets Manager secret ARNs."
  }
}

variable "health_check" {
  description = "Container health check command in ECS form (`[\"CMD\", \"colonnade-healthcheck\", ...]`); null for none (one-shot tasks)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.health_check == null || try(contains(["CMD", "CMD-SHELL"], var.health_check[0]) && length(var.health_check) > 1, false)
    error_message = "health_check must start with CMD or CMD-SHELL and name a command."
  }
}

variable "user" {
  description = "uid:gid the container runs as (the image's non-root user)."
  type        = string
  default     = "10001:10001"
  nullable    = false

  validation {
    condition     = can(regex("^[1-9][0-9]*:[1-9][0-9]*$", var.user))
    error_message = "user must be a non-root uid:gid pair."
  }
}

variable "log_group_name" {
  description = "CloudWatch Logs group of the container."
  type        = string
}

variable "log_region" {
  description = "Region of log_group_name."
  type        = string
}

variable "stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL (services drain in-flight calls on SIGTERM)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout >= 2 && var.stop_timeout <= 120
    error_message = "stop_timeout must be between 2 and 120 seconds (Fargate's maximum)."
  }
}
