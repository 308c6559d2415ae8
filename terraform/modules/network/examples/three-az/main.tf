# A production-shaped network: three AZs, a NAT gateway per AZ, flow logs and
# the VPC endpoints the services need. `terraform apply` it in a sandbox account
# or, as the tests do, against a moto server.

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

variable "region" {
  description = "Region to deploy into."
  type        = string
  default     = "eu-west-1"
}

variable "az_letters" {
  description = "AZs to use, as letters of the region's AZ names."
  type        = list(string)
  default     = ["a", "b", "c"]
}

variable "nat_gateway_mode" {
  description = "per_az, single or none."
  type        = string
  default     = "per_az"
}

locals {
  cidr    = "10.20.0.0/16"
  letters = ["a", "b", "c", "d", "e", "f"]
  azs     = [for l in var.az_letters : "${var.region}${l}"]

  # /24 public and database subnets, /20 private (application) subnets.
  subnets = {
    # Numbered by AZ letter, not list position, so dropping an AZ keeps the others' CIDRs.
    for az in local.azs : az => {
      public   = cidrsubnet(local.cidr, 8, index(local.letters, substr(az, -1, 1)))
      database = cidrsubnet(local.cidr, 8, 8 + index(local.letters, substr(az, -1, 1)))
      private  = cidrsubnet(local.cidr, 4, 1 + index(local.letters, substr(az, -1, 1)))
    }
  }
}

module "network" {
  source = "../.."

  name             = "colonnade-example"
  cidr_block       = local.cidr
  subnets          = local.subnets
  nat_gateway_mode = var.nat_gateway_mode

  tags = { Project = "colonnade", Environment = "example" }
}

output "vpc_id" {
  description = "VPC ID."
  value       = module.network.vpc_id
}

output "private_subnet_ids" {
  description = "Private subnet IDs keyed by AZ."
  value       = module.network.private_subnet_ids
}

output "database_subnet_ids" {
  description = "Database subnet IDs keyed by AZ."
  value       = module.network.database_subnet_ids
}
