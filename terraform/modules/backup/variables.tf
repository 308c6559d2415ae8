variable "name" {
  description = "Name of the vault and plan (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment class that picks the retention defaults: `dev` keeps daily snapshots 7 days; `staging` 35 days; `prod` 35 days plus monthly snapshots kept 365 days."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "resource_arns" {
  description = "ARNs of the resources to protect (the Aurora cluster ARN). Empty creates only the vault, for example the copy-target vault in the DR region."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for a in var.resource_arns : can(regex("^arn:aws[a-z-]*:", a))])
    error_message = "resource_arns must contain ARNs."
  }
}

variable "daily_retention_days" {
  description = "Days a daily snapshot is kept. Null: 7 in dev, 35 in staging and prod."
  type        = number
  default     = null

  validation {
    condition     = var.daily_retention_days == null || try(var.daily_retention_days >= 1 && floor(var.daily_retention_days) == var.daily_retention_days, false)
    error_message = "daily_retention_days must be a whole number of at least 1, or null."
  }
}

variable "monthly_retention_days" {
  description = "Days a monthly snapshot is kept; 0 disables the monthly rule. Null: 0 in dev and staging, 365 in prod."
  type        = number
  default     = null

  validation {
    condition     = var.monthly_retention_days == null || try(var.monthly_retention_days >= 0 && floor(var.monthly_retention_days) == var.monthly_retention_days, false)
    error_message = "monthly_retention_days must be a whole number of at least 0, or null."
  }
}

variable "daily_schedule" {
  description = "Cron expression (UTC) of the daily backup. The default runs after the Aurora module's default backup window (02:00-03:00)."
  type        = string
  default     = "cron(0 4 * * ? *)"
  nullable    = false

  validation {
    condition     = can(regex("^cron\\(.+\\)$", var.daily_schedule))
    error_message = "daily_schedule must be an AWS cron expression such as cron(0 4 * * ? *)."
  }
}

variable "copy_destination_vault_arn" {
  description = "ARN of a vault in another region (or account) that receives a copy of every recovery point, for regional disaster recovery. Null disables the copy."
  type        = string
  default     = null

  validation {
    condition     = var.copy_destination_vault_arn == null || can(regex("^arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:.+$", var.copy_destination_vault_arn))
    error_message = "copy_destination_vault_arn must be a backup vault ARN."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the vault. Null creates a customer managed key with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "vault_lock" {
  description = "Optional AWS Backup Vault Lock in governance mode: recovery points cannot be deleted before min_retention_days nor kept beyond max_retention_days. Null disables the lock."
  type = object({
    min_retention_days = number
    max_retention_days = number
  })
  default = null

  validation {
    condition     = var.vault_lock == null || try(var.vault_lock.min_retention_days >= 1 && var.vault_lock.max_retention_days >= var.vault_lock.min_retention_days, false)
    error_message = "vault_lock needs 1 <= min_retention_days <= max_retention_days."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
