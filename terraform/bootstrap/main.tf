# One-off root that creates the S3 bucket (and KMS key) holding every
# environment's state. Its own state stays local: commit nothing from here
# except code; keep terraform.tfstate somewhere safe or re-import the bucket.
#
#   terraform -chdir=terraform/bootstrap init
#   terraform -chdir=terraform/bootstrap apply -var bucket_name=colonnade-tfstate-<account>-<region>

terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}

variable "region" {
  description = "Region of the state bucket."
  type        = string
  default     = "eu-west-1"
}

variable "bucket_name" {
  description = "State bucket name, as written in terraform/environments/*/backend.tf."
  type        = string
}

provider "aws" {
  region = var.region

  default_tags {
    tags = { Project = "colonnade", ManagedBy = "terraform", Component = "state" }
  }
}

module "state" {
  source = "../modules/state-bootstrap"

  bucket_name = var.bucket_name
}

output "bucket" {
  description = "State bucket name."
  value       = module.state.bucket
}

output "kms_key_arn" {
  description = "KMS key to put in each backend.tf as kms_key_id."
  value       = module.state.kms_key_arn
}
