variable "project" {
  description = "Project name, the prefix of account-level resource names."
  type        = string
  default     = "colonnade"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.project))
    error_message = "project must be 2-12 lower-case letters and digits."
  }
}

variable "region" {
  description = "The Region the environments run in."
  type        = string
}

variable "dr_region" {
  description = "The disaster-recovery Region: image replicas and the backup vault that receives prod's copies."
  type        = string

  validation {
    condition     = var.dr_region != var.region
    error_message = "dr_region must differ from region: a copy in the same Region survives nothing."
  }
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket (globally unique). Null: `<project>-tfstate-<account id>-<region>`, the name scripts/deploy.py derives."
  type        = string
  default     = null
}

variable "image_repository_name" {
  description = "The ECR repository of the one image every process runs, shared by all environments: a digest tested in staging is the one prod runs."
  type        = string
  default     = "colonnade"
  nullable    = false
}

variable "dr_vault_name" {
  description = "Name of the backup vault in dr_region that receives prod's recovery point copies."
  type        = string
  default     = "colonnade-dr"
  nullable    = false
}

variable "dr_vault_lock" {
  description = "Optional governance-mode Vault Lock of the DR vault (min/max retention days)."
  type = object({
    min_retention_days = number
    max_retention_days = number
  })
  default = null
}

variable "service_quotas" {
  description = "Quotas the account must have for all its environments: Elastic IPs per Region (NAT gateways) and manual DB cluster snapshots per Region (AWS Backup's Aurora snapshots). Checked against Service Quotas at plan time."
  type = object({
    elastic_ips              = number
    manual_cluster_snapshots = number
  })
  nullable = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
