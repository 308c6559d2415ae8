variable "name" {
  description = "Cluster identifier and name prefix (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,45}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-47 lower-case letters, digits and single hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment class that picks the defaults: `dev` relaxes deletion protection, final snapshot, backup retention and instance count; `staging` and `prod` keep everything on."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be one of dev, staging, prod."
  }
}

variable "vpc_id" {
  description = "VPC that hosts the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Database subnet IDs keyed by Availability Zone (the network module's `database_subnet_ids`). Instances are spread over these AZs in order."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must cover at least two Availability Zones (Aurora requires it; three are recommended)."
  }
}

variable "allowed_security_group_ids" {
  description = "Application security groups allowed to reach PostgreSQL, keyed by a stable name (for example `{ catalog = sg-0123 }`). Nothing else is admitted."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "engine_major_version" {
  description = "Aurora PostgreSQL major version only (for example `16`). AWS picks and auto-upgrades the minor version; Terraform keeps the major, so an automatic minor upgrade never shows up as a diff that would try to roll it back."
  type        = string
  default     = "16"
  nullable    = false

  validation {
    condition     = can(regex("^1[3-9]$", var.engine_major_version))
    error_message = "engine_major_version must be a major version number only (13-19), for example 16."
  }
}

variable "allow_major_version_upgrade" {
  description = "Allow Terraform to perform a major version upgrade when engine_major_version changes."
  type        = bool
  default     = false
  nullable    = false
}

variable "database_name" {
  description = "Name of the initial database."
  type        = string
  default     = "colonnade"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a letter and contain only lower-case letters, digits and underscores (max 63)."
  }
}

variable "master_username" {
  description = "Master user name. Its password is generated and kept in Secrets Manager by RDS: it never appears in variables or in state."
  type        = string
  default     = "colonnade_admin"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.master_username)) && !contains(["postgres", "rdsadmin", "admin"], var.master_username)
    error_message = "master_username must be a lower-case identifier and not a reserved name (postgres, rdsadmin, admin)."
  }
}

variable "master_password_rotation_days" {
  description = "Rotation period of the RDS-managed master password secret, in days (1-365). The rotation is managed by RDS and only changes the secret value, which Terraform never reads, so it causes no drift. Null leaves RDS's default schedule (7 days) unmanaged."
  type        = number
  default     = 30

  validation {
    condition     = var.master_password_rotation_days == null || try(var.master_password_rotation_days >= 1 && var.master_password_rotation_days <= 365 && floor(var.master_password_rotation_days) == var.master_password_rotation_days, false)
    error_message = "master_password_rotation_days must be a whole number from 1 to 365, or null."
  }
}

variable "min_capacity" {
  description = "Minimum Serverless v2 capacity in ACUs (0 to 256, in steps of 0.5). 0 means scale to zero (auto-pause), allowed only in dev."
  type        = number
  default     = 0.5
  nullable    = false

  validation {
    condition     = var.min_capacity >= 0 && var.min_capacity <= 256 && floor(var.min_capacity * 2) == var.min_capacity * 2
    error_message = "min_capacity must be between 0 and 256 in steps of 0.5."
  }
}

variable "max_capacity" {
  description = "Maximum Serverless v2 capacity in ACUs (1 to 256, in steps of 0.5)."
  type        = number
  default     = 8
  nullable    = false

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 256 && floor(var.max_capacity * 2) == var.max_capacity * 2
    error_message = "max_capacity must be between 1 and 256 in steps of 0.5."
  }
}

variable "seconds_until_auto_pause" {
  description = "Idle seconds before a scale-to-zero cluster pauses (300-86400); used only when min_capacity is 0."
  type        = number
  default     = 3600
  nullable    = false

  validation {
    condition     = var.seconds_until_auto_pause >= 300 && var.seconds_until_auto_pause <= 86400
    error_message = "seconds_until_auto_pause must be between 300 and 86400."
  }
}

variable "instance_count" {
  description = "Number of instances (one writer, the rest readers), spread over the AZs of subnet_ids. Null: 1 in dev, 2 in staging, 3 in prod."
  type        = number
  default     = null

  validation {
    condition     = var.instance_count == null || try(var.instance_count >= 1 && var.instance_count <= 16 && floor(var.instance_count) == var.instance_count, false)
    error_message = "instance_count must be a whole number from 1 to 16, or null."
  }
}

variable "backup_retention_days" {
  description = "Automated backup (point-in-time recovery) retention in days, 1-35. Null: 3 in dev, 14 in staging, 35 in prod."
  type        = number
  default     = null

  validation {
    condition     = var.backup_retention_days == null || try(var.backup_retention_days >= 1 && var.backup_retention_days <= 35 && floor(var.backup_retention_days) == var.backup_retention_days, false)
    error_message = "backup_retention_days must be a whole number from 1 to 35, or null."
  }
}

variable "preferred_backup_window" {
  description = "Daily UTC window for automated backups (hh24:mi-hh24:mi, at least 30 minutes, not overlapping the maintenance window)."
  type        = string
  default     = "02:00-03:00"
  nullable    = false

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.preferred_backup_window))
    error_message = "preferred_backup_window must look like 02:00-03:00."
  }
}

variable "preferred_maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:04:00-sun:05:00"
  nullable    = false

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.preferred_maintenance_window))
    error_message = "preferred_maintenance_window must look like sun:04:00-sun:05:00."
  }
}

variable "deletion_protection" {
  description = "Deletion protection. Null: off in dev, on in staging and prod."
  type        = bool
  default     = null
}

variable "skip_final_snapshot" {
  description = "Skip the final snapshot on deletion. Null: skipped in dev, taken in staging and prod."
  type        = bool
  default     = null
}

variable "iam_database_authentication_enabled" {
  description = "Allow IAM database authentication (the services connect with short-lived IAM tokens)."
  type        = bool
  default     = true
  nullable    = false
}

variable "performance_insights_retention_days" {
  description = "Performance Insights retention: 7 (free tier), 731, or a multiple of 31 up to 713."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = contains([7, 731], var.performance_insights_retention_days) || (var.performance_insights_retention_days % 31 == 0 && var.performance_insights_retention_days >= 31 && var.performance_insights_retention_days <= 713)
    error_message = "performance_insights_retention_days must be 7, 731 or a multiple of 31 between 31 and 713."
  }
}

variable "monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 disables it)."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log group in days (a CloudWatch Logs allowed value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Log statements slower than this many milliseconds (-1 disables slow-query logging)."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.log_min_duration_statement_ms >= -1
    error_message = "log_min_duration_statement_ms must be -1 or more."
  }
}

variable "kms_key_arn" {
  description = "KMS key for storage, the master secret, Performance Insights and logs. Null creates a customer managed key with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "apply_immediately" {
  description = "Apply modifications immediately instead of in the next maintenance window."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
