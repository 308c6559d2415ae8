# Account-level resources: what exists once per AWS account (and Region),
# whatever environments run in it. Applied once per account, before any
# environment: `scripts/deploy.py account plan|apply`. Keeping these here is
# what lets dev, staging and prod share an account without colliding:
#
# - the Terraform state bucket (every root's backend);
# - the ECR repository of the one image (one repository, not one per
#   environment: environments pin digests, and a digest promoted from
#   staging to prod is the very image that was tested) and its replication
#   to the DR Region (a registry-wide setting: one per account and Region);
# - API Gateway's CloudWatch Logs role (AWS::ApiGateway::Account: one per
#   account and Region; set from three environment roots, destroying dev
#   would have removed prod's logging role);
# - the DR backup vault and its key in the second Region (provider alias).

provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, { Project = var.project, ManagedBy = "terraform", Repository = "colonnade/terraform/account" })
  }
}

provider "aws" {
  alias  = "dr"
  region = var.dr_region

  default_tags {
    tags = merge(var.tags, { Project = var.project, ManagedBy = "terraform", Repository = "colonnade/terraform/account" })
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  state_bucket_name = coalesce(var.state_bucket_name, "${var.project}-tfstate-${data.aws_caller_identity.current.account_id}-${var.region}")
}

module "state" {
  source = "../modules/state-bootstrap"

  bucket_name = local.state_bucket_name
}

module "ecr" {
  source = "../modules/ecr"

  repositories        = [var.image_repository_name]
  replication_regions = [var.dr_region]
}

################################################################################
# API Gateway: the account's CloudWatch Logs role
################################################################################

# The trust policy API Gateway's documentation gives (set-up-logging.html):
# UpdateAccount checks that apigateway.amazonaws.com can assume the role, and
# the review could not confirm that the check passes with an aws:SourceAccount
# condition, so none is added.
resource "aws_iam_role" "api_gateway_cloudwatch" {
  name_prefix = "apigw-cloudwatch-"
  description = "Lets API Gateway write execution and access logs in this account"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  role       = aws_iam_role.api_gateway_cloudwatch.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch.arn

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}

################################################################################
# Disaster recovery: the vault prod copies its Aurora recovery points to
################################################################################

module "dr_backup" {
  source    = "../modules/backup"
  providers = { aws = aws.dr }

  name        = var.dr_vault_name
  environment = "prod"
  # A vault only (with its own customer managed key in the DR Region):
  # the plans that fill it are the environments'.
  resource_arns = []
  vault_lock    = var.dr_vault_lock
}

################################################################################
# Quotas every environment of the account needs together
################################################################################

check "elastic_ip_quota" {
  data "aws_servicequotas_service_quota" "elastic_ips" {
    service_code = "ec2"
    quota_code   = "L-0263D0A3" # EC2-VPC Elastic IPs
  }

  assert {
    condition     = data.aws_servicequotas_service_quota.elastic_ips.value >= var.service_quotas.elastic_ips
    error_message = "The account allows ${data.aws_servicequotas_service_quota.elastic_ips.value} Elastic IPs in ${var.region}; its environments' NAT gateways need ${var.service_quotas.elastic_ips}: request an increase (Service Quotas, L-0263D0A3)."
  }
}

check "manual_cluster_snapshot_quota" {
  data "aws_servicequotas_service_quota" "cluster_snapshots" {
    service_code = "rds"
    quota_name   = "Manual DB cluster snapshots"
  }

  assert {
    condition     = data.aws_servicequotas_service_quota.cluster_snapshots.value >= var.service_quotas.manual_cluster_snapshots
    error_message = "The account allows ${data.aws_servicequotas_service_quota.cluster_snapshots.value} manual DB cluster snapshots in ${var.region}; the environments' backup plans keep up to ${var.service_quotas.manual_cluster_snapshots}."
  }
}
