# Aurora PostgreSQL Serverless v2 with prod settings in a three-AZ network,
# reachable only from one application security group, protected by an AWS
# Backup plan.

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

variable "environment" {
  description = "dev, staging or prod."
  type        = string
  default     = "prod"
}

locals {
  name = "colonnade-db-${var.environment}"
  cidr = "10.30.0.0/16"
  azs  = ["${var.region}a", "${var.region}b", "${var.region}c"]
  subnets = {
    for i, az in local.azs : az => {
      public   = cidrsubnet(local.cidr, 8, i)
      database = cidrsubnet(local.cidr, 8, 8 + i)
      private  = cidrsubnet(local.cidr, 4, 1 + i)
    }
  }
}

module "network" {
  source = "../../../network"

  name             = local.name
  cidr_block       = local.cidr
  subnets          = local.subnets
  nat_gateway_mode = "single"
}

# Stands in for the security group of an ECS service.
resource "aws_security_group" "app" {
  #checkov:skip=CKV2_AWS_5:Example stand-in for an application service's security group; the service modules attach theirs to ECS tasks.
  name_prefix = "${local.name}-catalog-"
  description = "catalog service tasks"
  vpc_id      = module.network.vpc_id
}

module "aurora" {
  source = "../.."

  name        = local.name
  environment = var.environment
  vpc_id      = module.network.vpc_id
  subnet_ids  = module.network.database_subnet_ids

  allowed_security_group_ids = { catalog = aws_security_group.app.id }

  min_capacity = var.environment == "dev" ? 0 : 0.5
  max_capacity = 8
}

module "backup" {
  source = "../../../backup"

  name          = local.name
  environment   = var.environment
  resource_arns = [module.aurora.cluster_arn]
}

output "endpoint" {
  description = "Writer endpoint."
  value       = module.aurora.endpoint
}

output "reader_endpoint" {
  description = "Reader endpoint."
  value       = module.aurora.reader_endpoint
}

output "master_user_secret_arn" {
  description = "Secret holding the master password."
  value       = module.aurora.master_user_secret_arn
}
