# The one environment root: dev, staging and prod run this same code with
# their own data, terraform/environments/<env>/{backend.hcl, terraform.tfvars,
# images.auto.tfvars.json}, and the topology in services.auto.tfvars here.
# Apply the account root (terraform/account) first: it owns the image
# repository, API Gateway's logging role and the DR vault these refer to.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "colonnade"
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "colonnade/terraform/live"
    }
  }
}

# CloudFront's web ACL must be created in us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = {
      Project     = "colonnade"
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "colonnade/terraform/live"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # The API Gateway variant of the OpenAPI document, generated from the protos
  # and committed at openapi/colonnade.apigateway.json.
  openapi_document = coalesce(var.openapi_document_path, "${path.module}/../../openapi/colonnade.apigateway.json")
  # The web UI the cdn module publishes.
  site_dir = "${path.module}/../../services/colonnade/web"

  backup_copy_vault_arn = var.backup_copy == null ? null : "arn:${data.aws_partition.current.partition}:backup:${var.backup_copy.region}:${data.aws_caller_identity.current.account_id}:backup-vault:${var.backup_copy.vault_name}"
}

module "edge_waf" {
  source    = "../modules/edge-waf"
  providers = { aws = aws.us_east_1 }

  name               = "colonnade-${var.environment}-edge"
  rate_limit         = var.cdn.rate_limit
  log_retention_days = var.log_retention_days
}

module "platform" {
  source = "../modules/platform"

  environment              = var.environment
  availability_zones       = var.availability_zones
  vpc_cidr                 = var.vpc_cidr
  nat_gateway_mode         = var.nat_gateway_mode
  interface_endpoints      = var.interface_endpoints
  compute                  = var.compute
  cpu_architecture         = var.cpu_architecture
  services                 = var.services
  image_repository         = var.image_repository
  image_digests            = var.image_digests
  migrate                  = var.migrate
  fargate_spot_weight      = var.fargate_spot_weight
  aurora                   = var.aurora
  cache                    = var.cache
  eks                      = var.eks
  certificate_arn          = var.certificate_arn
  certificate_domain_names = var.certificate_domain_names
  backend_host             = var.backend_host
  deletion_protection      = var.deletion_protection
  log_retention_days       = var.log_retention_days
  alarm_emails             = var.alarm_emails
  observability            = var.observability
  openapi_body             = file(local.openapi_document)
  api                      = var.api
  authorizer               = merge(var.authorizer, { package_path = var.lambda_package })
  cdn = {
    aliases             = var.cdn.aliases
    acm_certificate_arn = var.cdn.acm_certificate_arn
    price_class         = var.cdn.price_class
    web_acl_arn         = module.edge_waf.web_acl_arn
  }
  site_dir              = local.site_dir
  backup_copy_vault_arn = local.backup_copy_vault_arn
}

# Releases pin digests; a tag is accepted only until the first release.
check "images_are_pinned_by_digest" {
  assert {
    condition     = alltrue([for d in values(var.image_digests) : startswith(d, "sha256:")])
    error_message = "${join(", ", sort([for k, d in var.image_digests : k if !startswith(d, "sha256:")]))} run a tag, not a digest: release to write digests into images.auto.tfvars.json."
  }
}
