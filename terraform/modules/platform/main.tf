# The whole platform of one environment. Every environment root calls this
# module with its own variables, so environments differ by data, never by code.

data "aws_region" "current" {}

locals {
  name   = "${var.project}-${var.environment}"
  is_ecs = var.compute == "ecs"
  azs    = sort(var.availability_zones)

  # Per AZ: a /20 private (tasks, nodes), a /24 public (NAT, nothing else) and
  # a /24 database subnet. Indexes are fixed per AZ position.
  subnets = {
    for i, az in local.azs : az => {
      private  = cidrsubnet(var.vpc_cidr, 4, i + 1)
      public   = cidrsubnet(var.vpc_cidr, 8, i)
      database = cidrsubnet(var.vpc_cidr, 8, 8 + i)
    }
  }

  grpc_port    = 50051
  gateway_port = 8080

  service_names = ["gateway", "catalog", "orders"]
  data_services = ["catalog", "orders"]

  # gRPC paths are /<package>.<Service>/<Method>; route every version.
  grpc_routes = {
    catalog = ["/colonnade.catalog.v*"]
    orders  = ["/colonnade.orders.v*"]
  }

  database_host = module.aurora.endpoint
  cache_url     = "memcached://${module.cache.cluster_address}:${module.cache.port}"

  base_environment = {
    gateway = {
      # colonnade-gateway reads COLONNADE_GATEWAY_*; the descriptor set is the one
      # installed with the package. Service Connect names reach the services.
      COLONNADE_GATEWAY_HOST     = "0.0.0.0"
      COLONNADE_GATEWAY_PORT     = tostring(local.gateway_port)
      COLONNADE_GATEWAY_BACKENDS = "colonnade.catalog.v1=catalog:${local.grpc_port},colonnade.orders.v1=orders:${local.grpc_port}"
    }
    catalog = {
      SERVICE_NAME = "catalog"
      GRPC_HOST    = "0.0.0.0"
      GRPC_PORT    = tostring(local.grpc_port)
      # No password: the task role signs an IAM authentication token.
      DATABASE_URL = "postgresql://catalog@${local.database_host}:5432/${module.aurora.database_name}?sslmode=verify-full"
      DB_IAM_AUTH  = "1"
      CACHE_URL    = local.cache_url
    }
    orders = {
      SERVICE_NAME    = "orders"
      GRPC_HOST       = "0.0.0.0"
      GRPC_PORT       = tostring(local.grpc_port)
      DATABASE_URL    = "postgresql://orders@${local.database_host}:5432/${module.aurora.database_name}?sslmode=verify-full"
      DB_IAM_AUTH     = "1"
      CACHE_URL       = local.cache_url
      CATALOG_ADDRESS = "catalog:${local.grpc_port}"
    }
  }

  tags = merge(var.tags, { Environment = var.environment })
}

################################################################################
# Network and data
################################################################################

module "network" {
  source = "../network"

  name             = local.name
  cidr_block       = var.vpc_cidr
  subnets          = local.subnets
  nat_gateway_mode = var.nat_gateway_mode
  tags             = local.tags
}

locals {
  # Who may reach the database and the cache: the data services' tasks (ECS)
  # or the cluster's nodes and pods (EKS).
  data_client_security_groups = local.is_ecs ? {
    for s in local.data_services : s => module.ecs_service[s].security_group_id
  } : { eks = module.eks[0].cluster_security_group_id }
}

module "aurora" {
  source = "../aurora"

  name                       = local.name
  environment                = var.environment
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.database_subnet_ids
  allowed_security_group_ids = local.data_client_security_groups
  min_capacity               = var.aurora.min_capacity
  max_capacity               = var.aurora.max_capacity
  instance_count             = var.aurora.instance_count
  tags                       = local.tags
}

module "cache" {
  source = "../cache"

  name                       = local.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.database_subnet_ids
  allowed_security_group_ids = local.data_client_security_groups
  node_type                  = var.cache.node_type
  num_cache_nodes            = var.cache.num_cache_nodes
  tags                       = local.tags
}

module "backup" {
  source = "../backup"

  name                       = local.name
  environment                = var.environment
  resource_arns              = [module.aurora.cluster_arn]
  copy_destination_vault_arn = var.backup_copy_vault_arn
  tags                       = local.tags
}

################################################################################
# Images, logs, alarms
################################################################################

module "ecr" {
  source = "../ecr"

  name_prefix         = var.project
  repositories        = toset(local.service_names)
  replication_regions = var.ecr_replication_regions
  force_delete        = var.environment == "dev"
  tags                = local.tags
}

module "observability" {
  source = "../observability"

  name                      = local.name
  services                  = toset(local.service_names)
  log_retention_days        = var.log_retention_days
  force_destroy_access_logs = var.environment == "dev"
  alarm_emails              = var.alarm_emails
  alb = {
    arn_suffix                = module.alb.arn_suffix
    target_group_arn_suffixes = module.alb.target_group_arn_suffixes
  }
  api_gateway = {
    api_name   = module.api_gateway.rest_api_name
    stage_name = module.api_gateway.stage_name
  }
  aurora = { cluster_id = module.aurora.cluster_id }
  cache  = { cluster_id = module.cache.cluster_id }
  tags   = local.tags
}

################################################################################
# Load balancer, API Gateway, CDN
################################################################################

module "alb" {
  source = "../alb"

  name            = local.name
  vpc_id          = module.network.vpc_id
  subnet_ids      = module.network.private_subnet_ids
  internal        = true
  certificate_arn = var.certificate_arn
  ingress_cidr_blocks = merge(
    { vpc = module.network.vpc_cidr_block },
    var.alb_ingress_cidrs,
  )
  ingress_security_group_ids = { api_gateway_vpc_link = module.api_gateway.vpc_link_security_group_id }
  http_target                = { name = "gateway", port = local.gateway_port }
  grpc_targets = {
    for s, routes in local.grpc_routes : s => { port = local.grpc_port, path_patterns = routes }
  }
  deletion_protection = var.deletion_protection
  access_logs_bucket  = module.observability.access_logs_bucket
  tags                = local.tags
}

module "api_gateway" {
  source = "../api-gateway"

  name                        = local.name
  openapi_body                = var.openapi_body
  stage_name                  = var.environment
  vpc_id                      = module.network.vpc_id
  subnet_ids                  = module.network.private_subnet_ids
  alb_arn                     = module.alb.arn
  alb_https_listener_arn      = module.alb.https_listener_arn
  backend_host                = var.backend_host
  throttling_rate_limit       = var.api.throttling_rate_limit
  throttling_burst_limit      = var.api.throttling_burst_limit
  cache_cluster_size          = var.api.cache_cluster_size
  usage_plans                 = var.api.usage_plans
  create_web_acl              = var.api.create_web_acl
  manage_account_logging_role = var.manage_api_gateway_account
  kms_key_arn                 = module.observability.kms_key_arn
  deletion_protection         = var.deletion_protection
  tags                        = local.tags
}

module "cdn" {
  source = "../cdn"

  name                           = local.name
  api_origin_domain              = module.api_gateway.execute_api_domain
  api_origin_path                = "/${module.api_gateway.stage_name}"
  access_logs_bucket             = module.observability.access_logs_bucket
  access_logs_bucket_domain_name = module.observability.access_logs_bucket_domain_name
  aliases                        = var.cdn.aliases
  acm_certificate_arn            = var.cdn.acm_certificate_arn
  web_acl_arn                    = var.cdn.web_acl_arn
  price_class                    = var.cdn.price_class
  force_destroy                  = var.environment == "dev"
  tags                           = local.tags
}

################################################################################
# Compute: ECS Fargate
################################################################################

module "ecs_cluster" {
  source = "../ecs-cluster"
  count  = local.is_ecs ? 1 : 0

  name                = local.name
  fargate_spot_weight = var.fargate_spot_weight
  tags                = local.tags
}

locals {
  ecs_ingress = {
    gateway = { alb = module.alb.security_group_id }
    catalog = { alb = module.alb.security_group_id }
    orders  = { alb = module.alb.security_group_id }
  }
  # Service-to-service gRPC through Service Connect comes from inside the VPC.
  ecs_ingress_cidrs = {
    gateway = {}
    catalog = { vpc = module.network.vpc_cidr_block }
    orders  = { vpc = module.network.vpc_cidr_block }
  }
  ecs_load_balancers = {
    gateway = { http = { target_group_arn = module.alb.http_target_group_arn, container_port = local.gateway_port } }
    catalog = { grpc = { target_group_arn = module.alb.grpc_target_group_arns["catalog"], container_port = local.grpc_port } }
    orders  = { grpc = { target_group_arn = module.alb.grpc_target_group_arns["orders"], container_port = local.grpc_port } }
  }
}

module "ecs_service" {
  source   = "../ecs-service"
  for_each = local.is_ecs ? toset(local.service_names) : toset([])

  name                          = each.key
  name_prefix                   = local.name
  cluster_arn                   = module.ecs_cluster[0].cluster_arn
  cluster_name                  = module.ecs_cluster[0].cluster_name
  vpc_id                        = module.network.vpc_id
  subnet_ids                    = module.network.private_subnet_ids
  image_repository_url          = module.ecr.repository_urls[each.key]
  image_tag                     = var.image_tags[each.key]
  cpu                           = var.services[each.key].cpu
  memory                        = var.services[each.key].memory
  container_port                = each.key == "gateway" ? local.gateway_port : local.grpc_port
  app_protocol                  = each.key == "gateway" ? "http" : "grpc"
  service_connect_namespace_arn = module.ecs_cluster[0].service_connect_namespace_arn
  publish_in_namespace          = each.key != "gateway"
  environment                   = merge(local.base_environment[each.key], lookup(var.service_environment, each.key, {}))
  secrets                       = lookup(var.service_secrets, each.key, {})
  log_group_name                = module.observability.log_group_names[each.key]
  log_group_arn                 = module.observability.log_group_arns[each.key]
  load_balancers                = local.ecs_load_balancers[each.key]
  ingress_security_group_ids    = local.ecs_ingress[each.key]
  ingress_cidr_blocks           = local.ecs_ingress_cidrs[each.key]
  desired_count                 = var.services[each.key].min_tasks
  min_capacity                  = var.services[each.key].min_tasks
  max_capacity                  = var.services[each.key].max_tasks
  requests_per_target           = each.key == "gateway" ? var.requests_per_target : null
  alb_resource_label            = each.key == "gateway" ? "${module.alb.arn_suffix}/${module.alb.http_target_group_arn_suffix}" : null
  capacity_provider_strategy    = module.ecs_cluster[0].capacity_provider_strategy
  db_iam_auth = contains(local.data_services, each.key) ? {
    cluster_resource_id = module.aurora.cluster_resource_id
    db_user             = each.key
  } : null
  tags = local.tags
}

################################################################################
# Compute: EKS
################################################################################

module "eks" {
  source = "../eks"
  count  = local.is_ecs ? 0 : 1

  name                   = local.name
  kubernetes_version     = var.eks.kubernetes_version
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = var.eks.endpoint_public_access
  public_access_cidrs    = var.eks.public_access_cidrs
  instance_types         = var.eks.instance_types
  nodes_per_az           = var.eks.nodes_per_az
  admin_principal_arns   = var.eks.admin_principal_arns
  service_accounts = {
    for s in local.service_names : s => {
      namespace       = "colonnade"
      service_account = s
      db_user         = contains(local.data_services, s) ? s : null
    }
  }
  db_cluster_resource_id = module.aurora.cluster_resource_id
  tags                   = local.tags
}
