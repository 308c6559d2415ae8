# Memcached across three AZs with TLS, reachable only from one application
# security group.

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

locals {
  name = "colonnade-cache"
  cidr = "10.40.0.0/16"
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

module "cache" {
  source = "../.."

  name       = local.name
  vpc_id     = module.network.vpc_id
  subnet_ids = module.network.database_subnet_ids

  allowed_security_group_ids = { catalog = aws_security_group.app.id }
  num_cache_nodes            = 3
}

output "configuration_endpoint" {
  description = "Configuration endpoint."
  value       = module.cache.configuration_endpoint
}

output "node_endpoints" {
  description = "host:port of every node."
  value       = module.cache.node_endpoints
}
