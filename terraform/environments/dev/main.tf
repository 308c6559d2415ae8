# Identical in every environment: only backend.tf, terraform.tfvars and
# images.auto.tfvars.json differ (tests/terraform/test_environments.py checks it).

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "colonnade"
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "colonnade/terraform/environments/${var.environment}"
    }
  }
}

locals {
  # The API Gateway variant of the OpenAPI document, generated from the protos
  # and committed at openapi/colonnade.apigateway.json.
  openapi_document = coalesce(var.openapi_document_path, "${path.root}/../../../openapi/colonnade.apigateway.json")
}

module "platform" {
  source = "../../modules/platform"

  environment                = var.environment
  availability_zones         = var.availability_zones
  vpc_cidr                   = var.vpc_cidr
  nat_gateway_mode           = var.nat_gateway_mode
  compute                    = var.compute
  image_tags                 = var.image_tags
  services                   = var.services
  service_environment        = var.service_environment
  service_secrets            = var.service_secrets
  fargate_spot_weight        = var.fargate_spot_weight
  aurora                     = var.aurora
  cache                      = var.cache
  eks                        = var.eks
  certificate_arn            = var.certificate_arn
  backend_host               = var.backend_host
  deletion_protection        = var.deletion_protection
  log_retention_days         = var.log_retention_days
  alarm_emails               = var.alarm_emails
  openapi_body               = file(local.openapi_document)
  api                        = var.api
  manage_api_gateway_account = var.manage_api_gateway_account
  cdn                        = var.cdn
  ecr_replication_regions    = var.ecr_replication_regions
  backup_copy_vault_arn      = var.backup_copy_vault_arn
}
