variable "bucket_name" {
  description = "Name of the state bucket (globally unique; for example `colonnade-tfstate-<account id>-<region>`). The environments' backend.tf files name it."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !strcontains(var.bucket_name, "..")
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "create_lock_table" {
  description = "Also create a DynamoDB lock table, for Terraform older than 1.10. Terraform >= 1.10 locks with a lock file in the bucket (`use_lockfile = true`), which the environments use."
  type        = bool
  default     = false
  nullable    = false
}

variable "noncurrent_version_retention_days" {
  description = "Days old state versions are kept (the undo history of every apply)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = var.noncurrent_version_retention_days >= 30
    error_message = "Keep at least 30 days of state history."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
