variable "name" {
  description = "Cluster name (for example `colonnade-prod`); also the Service Connect namespace name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "fargate_spot_weight" {
  description = "Share of tasks (beyond fargate_base) placed on FARGATE_SPOT, as a weight against FARGATE's weight of 1 (0 = no Spot). Spot tasks can be reclaimed with two minutes' notice: use it in dev and staging."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.fargate_spot_weight >= 0 && var.fargate_spot_weight <= 10 && floor(var.fargate_spot_weight) == var.fargate_spot_weight
    error_message = "fargate_spot_weight must be an integer between 0 and 10."
  }
}

variable "fargate_base" {
  description = "Tasks per service always placed on on-demand FARGATE before the weights apply."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.fargate_base >= 0 && var.fargate_base <= 100000 && floor(var.fargate_base) == var.fargate_base
    error_message = "fargate_base must be a non-negative integer."
  }
}

variable "log_retention_days" {
  description = "Retention of the ECS Exec audit log group (CloudWatch Logs allowed value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  description = "KMS key for ECS Exec sessions and their audit log group. Null creates a customer managed key with rotation."
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
