# Regional disaster recovery for backups: a vault and plan in the primary
# region protecting a cluster, and a copy of every recovery point in a vault in
# a second region (created by the same module, without a plan).

terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

provider "aws" {
  region = var.region
}

provider "aws" {
  alias  = "dr"
  region = var.dr_region
}

variable "region" {
  description = "Primary region."
  type        = string
  default     = "eu-west-1"
}

variable "dr_region" {
  description = "Region that receives the backup copies."
  type        = string
  default     = "eu-central-1"
}

variable "resource_arns" {
  description = "Resources to protect (in an environment root: module.aurora.cluster_arn)."
  type        = list(string)
  default     = ["arn:aws:rds:eu-west-1:123456789012:cluster:colonnade-prod"]
}

module "dr_vault" {
  source    = "../.."
  providers = { aws = aws.dr }

  name        = "colonnade-prod-dr"
  environment = "prod"
}

module "backup" {
  source = "../.."

  name                       = "colonnade-prod"
  environment                = "prod"
  resource_arns              = var.resource_arns
  copy_destination_vault_arn = module.dr_vault.vault_arn
  vault_lock = {
    min_retention_days = 7
    max_retention_days = 400
  }
}

output "vault_arn" {
  description = "Primary vault."
  value       = module.backup.vault_arn
}

output "dr_vault_arn" {
  description = "Vault in the DR region."
  value       = module.dr_vault.vault_arn
}

output "rules" {
  description = "Rules and their retention in days."
  value       = module.backup.rules
}
