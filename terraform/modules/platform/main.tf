# The whole platform of one environment. The live root calls this module
# with the environment's data, so environments differ by data, never by code,
# and the `services` map decides what runs: adding a service is one entry.

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  stage_name = var.environment # the REST API's stage: one per environment, named after it
  is_ecs     = var.compute == "ecs"
  is_eks     = var.compute == "eks"
  is_lambda  = var.compute == "lambda"
  azs        = sort(var.availability_zones)
  region     = data.aws_region.current.name
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # Per AZ: a /20 private (tasks, nodes), a /24 public (NAT, nothing else) and
  # a /24 database subnet. Indexes are fixed per AZ position.
  subnets = {
    for i, az in local.azs : az => {
      private  = cidrsubnet(var.vpc_cidr, 4, i + 1)
      public   = cidrsubnet(var.vpc_cidr, 8, i)
      database = cidrsubnet(var.vpc_cidr, 8, 8 + i)
    }
  }

  ##############################################################################
  # The topology, read from var.services
  ##############################################################################

  gateway       = one([for n, s in var.services : n if s.protocol == "http"])
  grpc_services = { for n, s in var.services : n => s if s.protocol == "grpc" }
  db_services   = sort([for n, s in var.services : n if s.database])
  sizing        = { for n, s in var.services : n => s.sizing[var.environment] }
  # One process per vCPU (1024 CPU units), sharing the port (SO_REUSEPORT): a Python
  # process (grpc.aio or aiohttp) uses one core, so a larger task would leave the rest idle.
  workers = { for n, s in local.sizing : n => tostring(max(1, floor(s.cpu / 1024))) }

  # The gateway maps every gRPC package to the service serving it; Service
  # Connect (ECS) or the Kubernetes Service (EKS) resolves the service name.
  gateway_backends = join(",", flatten([
    for n in sort(keys(local.grpc_services)) : [for p in local.grpc_services[n].grpc_packages : "${p}=${n}:${local.grpc_services[n].port}"]
  ]))

  ##############################################################################
  # Images: one repository, a digest (or, before the first release, a tag) per workload
  ##############################################################################

  image_repository_url = coalesce(var.image_repository.url, "${local.account_id}.dkr.ecr.${local.region}.${data.aws_partition.current.dns_suffix}/${var.image_repository.name}")
  image_repository_arn = "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${var.image_repository.name}"
  images = {
    for k, d in var.image_digests : k => startswith(d, "sha256:") ? "${local.image_repository_url}@${d}" : "${local.image_repository_url}:${d}"
  }

  ##############################################################################
  # What the code reads (see the shared contract): one place for ECS and EKS
  ##############################################################################

  # The image carries the RDS CA bundle here; verify-full checks the writer's name.
  rds_ca_bundle = "/etc/colonnade/certs/rds-ca-bundle.pem"
  database_url = {
    for n in local.db_services : n => "postgresql://${n}@${module.aurora.endpoint}:${module.aurora.port}/${module.aurora.database_name}?sslmode=verify-full&sslrootcert=${local.rds_ca_bundle}"
  }
  # The configuration endpoint: the client reads the node list from it
  # (ElastiCache Auto Discovery) and talks TLS to every node.
  cache_url = "memcached://${module.cache.cluster_address}:${module.cache.port}"

  # The token issuer (identity module). Its resource server holds exactly the
  # contracts' scopes, read from the API document the generator writes from the
  # protos (x-colonnade-scopes: every scope any method requires, routed by API
  # Gateway or not), each described by the methods requiring it.
  document        = jsondecode(var.openapi_body)
  scope_methods   = try(local.document["x-colonnade-scopes"], {})
  contract_scopes = { for s, ms in local.scope_methods : s => substr(join(", ", distinct([for m in ms : join(".", slice(split(".", m), length(split(".", m)) - 2, length(split(".", m))))])), 0, 256) }
  # The web UI's client: the scopes of the public API (what the document routes).
  api_scopes = sort(distinct(flatten([for path, ops in local.document.paths : [for method, op in ops : try(op["x-colonnade-policy"].scopes, [])]])))
  identities = {
    for n, s in var.services : n => {
      delegate = s.identity.delegate
      scopes   = s.identity.delegate ? sort(keys(local.contract_scopes)) : s.identity.scopes
    } if s.identity != null
  }
  delegates = [for n in sort(keys(local.identities)) : module.identity.service_client_ids[n] if local.identities[n].delegate]
  # What every verifier is told: Cognito's access tokens (no aud; client_id,
  # token_use and prefixed scopes), from the pool's clients only.
  verifier_environment = {
    AUTH_JWKS         = module.identity.jwks_url
    AUTH_ISSUER       = module.identity.issuer
    AUTH_TOKEN_USE    = "access"
    AUTH_CLIENT_IDS   = join(",", module.identity.client_ids)
    AUTH_SCOPE_PREFIX = module.identity.scope_prefix
  }
  # A calling service's own identity (its secret comes through `secrets`).
  identity_environment = {
    for n, i in local.identities : n => merge(
      {
        SERVICE_TOKEN_URL = module.identity.token_endpoint
        SERVICE_CLIENT_ID = module.identity.service_client_ids[n]
      },
      # The gateway asks for no scope (Cognito then grants all its client's); a service
      # asks for exactly its own.
      i.delegate ? {} : { SERVICE_TOKEN_SCOPES = join(",", i.scopes) },
    )
  }
  auth_environment = {
    for n, s in var.services : n => s.protocol == "http" ? {
      for k, v in merge(local.verifier_environment, lookup(local.identity_environment, n, {})) : "COLONNADE_GATEWAY_${k}" => v
      } : merge(local.verifier_environment, lookup(local.identity_environment, n, {}), {
        AUTH_MODE              = "enforce"
        AUTH_TRUSTED_DELEGATES = join(",", local.delegates)
    })
  }
  auth_secrets = {
    for n, s in var.services : n => merge(
      contains(keys(local.identities), n) ? {
        (s.protocol == "http" ? "COLONNADE_GATEWAY_SERVICE_CLIENT_SECRET" : "SERVICE_CLIENT_SECRET") = module.identity.service_client_secret_arns[n]
      } : {},
      s.protocol == "http" ? { COLONNADE_GATEWAY_API_KEYS = module.identity.api_key_store_secret_arn } : {},
    )
  }
  # Every secret a service's container reads (ECS `secrets`, the CSI driver on EKS): its
  # identity's, and a gRPC service's page-token keys (below). All are under the
  # environment's KMS key.
  service_secrets = {
    for n, s in var.services : n => merge(
      local.auth_secrets[n],
      s.protocol == "grpc" ? { PAGE_TOKEN_KEYS = aws_secretsmanager_secret_version.page_token_keys[n].arn } : {},
    )
  }
  # The gateway's API key store: the usage plans' keys, which API Gateway meters and the
  # gateway authenticates (CloudFront adds the web plan's key to the SPA's calls), as
  # SHA-256 digests with their plan as tier. They grant no scope: a key makes its caller
  # known for public methods and throttling; scoped calls carry the issuer's tokens.
  api_key_store = jsonencode({
    keys = [for k in sort(keys(module.api_gateway.api_key_values)) : {
      id        = k
      sha256    = sha256(module.api_gateway.api_key_values[k])
      principal = "apikey:${k}"
      scopes    = []
      tier      = split("/", k)[0]
    }]
  })

  # Metrics as EMF lines in the logs; traces (when on) to the ADOT sidecar on loopback.
  obs = var.observability
  observability_environment = merge(
    {
      METRICS_EMF_INTERVAL = tostring(local.obs.emf_interval_seconds)
      TRACE_SAMPLE_RATIO   = tostring(local.obs.trace_sample_ratio)
    },
    # Only where the collector runs beside the task (ECS): see check "tracing_needs_ecs".
    local.obs.tracing && local.is_ecs ? { TRACE_EXPORTERS = "otlp", OTLP_ENDPOINT = "http://127.0.0.1:4317" } : {},
  )

  environment = {
    for n, s in var.services : n => merge(
      s.protocol == "http" ? merge({
        COLONNADE_GATEWAY_HOST     = "0.0.0.0"
        COLONNADE_GATEWAY_PORT     = tostring(s.port)
        COLONNADE_GATEWAY_BACKENDS = local.gateway_backends
        COLONNADE_GATEWAY_WORKERS  = local.workers[n]
        }, { for k, v in local.observability_environment : "COLONNADE_GATEWAY_${k}" => v }) : merge({
        SERVICE_NAME      = n
        GRPC_HOST         = "0.0.0.0"
        GRPC_PORT         = tostring(s.port)
        AWS_REGION        = local.region
        WORKERS           = local.workers[n]
        LOG_ACCESS_SAMPLE = tostring(local.obs.access_log_sample)
        # Read by nothing: it changes the task definition when the page-token keys are
        # rotated, so the rollout starts tasks that read the new keys (ECS reads a
        # secret when a task starts).
        PAGE_TOKEN_KEY_VERSION = tostring(var.page_token_key_version)
      }, local.observability_environment),
      s.database ? {
        # No password: the task role signs an IAM authentication token.
        DATABASE_URL = local.database_url[n]
        DB_IAM_AUTH  = "1"
        # colonnade-migrate applied the migrations before the rollout.
        DB_MIGRATE = "false"
      } : {},
      s.cache ? {
        CACHE_URL       = local.cache_url
        CACHE_TLS       = "true"
        CACHE_DISCOVERY = "true"
        # Hot entries served from the process's memory for 1 s (no memcached round trip):
        # another task's write shows here at most 1 s later; the task's own writes at once.
        CACHE_LOCAL_TTL = "1"
      } : s.protocol == "grpc" ? { CACHE_URL = "none" } : {},
      local.auth_environment[n],
      s.environment,
    )
  }

  health_check = {
    for n, s in var.services : n => (s.protocol == "http"
      ? ["CMD", "colonnade-healthcheck", "http", "http://127.0.0.1:${s.port}${s.health_path}"]
      : ["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:${s.port}"]
    )
  }

  migrate_environment = {
    DB_HOST        = module.aurora.endpoint
    DB_PORT        = tostring(module.aurora.port)
    DB_NAME        = module.aurora.database_name
    DB_SSLMODE     = "verify-full"
    DB_SSLROOTCERT = local.rds_ca_bundle
    # With compute = lambda the services reach Aurora through RDS Proxy, which logs in with
    # each role's password (its secret, below): the bootstrap sets them instead of rds_iam.
    DB_IAM_AUTH = local.is_lambda ? "false" : "true"
    DB_SERVICES = join(",", local.db_services)
    AWS_REGION  = local.region
  }

  # The ADOT collector beside each task (with `observability.tracing`): OTLP on loopback in,
  # X-Ray out (its built-in ECS configuration). Not essential: if it stops, the service keeps
  # serving and only its spans are lost.
  collector_definition = {
    for n in keys(var.services) : n => {
      name  = "otel-collector"
      image = local.obs.collector_image
      # The image's bundled ECS pipeline: OTLP in on loopback, traces out to X-Ray.
      command                = ["--config=/etc/ecs/ecs-default-config.yaml"]
      environment            = [{ name = "AWS_REGION", value = local.region }]
      essential              = false
      user                   = "10001"
      readonlyRootFilesystem = true
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = module.observability.log_group_names[n]
          awslogs-region        = local.region
          awslogs-stream-prefix = "otel-collector"
          mode                  = "non-blocking"
        }
      }
    }
  }

  tags = merge(var.tags, { Environment = var.environment })
}

################################################################################
# Network and data
################################################################################

module "network" {
  source = "../network"

  name                = local.name
  cidr_block          = var.vpc_cidr
  subnets             = local.subnets
  nat_gateway_mode    = var.nat_gateway_mode
  interface_endpoints = var.interface_endpoints
  tags                = local.tags
}

locals {
  # Who may reach the database and the cache: the services that need them
  # (their ECS tasks, or the EKS cluster's nodes and pods). The bootstrap task
  # has a rule of its own (below the migrate module).
  db_clients = local.is_ecs ? {
    for n in local.db_services : n => module.ecs_service[n].security_group_id
    } : local.is_eks ? { eks = module.eks[0].cluster_security_group_id } : {
    lambda_proxy             = module.lambda[0].proxy_security_group_id
  }
  cache_clients = local.is_ecs ? {
    for n, s in var.services : n => module.ecs_service[n].security_group_id if s.cache
  } : local.is_eks ? { eks = module.eks[0].cluster_security_group_id } : { lambda = module.lambda[0].security_group_id }
}

module "aurora" {
  source = "../aurora"

  name                       = local.name
  environment                = var.environment
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.database_subnet_ids
  allowed_security_group_ids = local.db_clients
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
  allowed_security_group_ids = local.cache_clients
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
# Logs, alarms
################################################################################

module "observability" {
  source = "../observability"

  name                      = local.name
  services                  = setunion(keys(var.services), ["migrate"])
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
  # The services' own metrics (EMF), alarmed per service with the environment's thresholds.
  application = {
    rpc_services      = keys(local.grpc_services)
    http_services     = local.gateway == null ? [] : [local.gateway]
    cache_services    = [for n, s in var.services : n if s.cache]
    database_services = local.db_services
  }
  thresholds = { for k, v in local.obs.thresholds : k => v if v != null }
  tags       = local.tags
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
  # The ALB checks liveness (/healthz); readiness (all backends serving) is
  # the container health check's: a backend outage must not take every
  # gateway target out of the load balancer.
  http_target = { name = local.gateway, port = var.services[local.gateway].port }
  grpc_targets = {
    for n, s in local.grpc_services : n => { port = s.port, path_patterns = [for p in s.grpc_packages : "/${p}.*"] }
  }
  deletion_protection = var.deletion_protection
  access_logs_bucket  = module.observability.access_logs_bucket
  tags                = local.tags
}

module "api_gateway" {
  source = "../api-gateway"

  name                     = local.name
  openapi_body             = var.openapi_body
  stage_name               = local.stage_name
  vpc_id                   = module.network.vpc_id
  subnet_ids               = module.network.private_subnet_ids
  alb_arn                  = module.alb.arn
  alb_https_listener_arn   = module.alb.https_listener_arn
  backend_host             = var.backend_host
  certificate_domain_names = var.certificate_domain_names
  throttling_rate_limit    = var.api.throttling_rate_limit
  throttling_burst_limit   = var.api.throttling_burst_limit
  cache_cluster_size       = var.api.cache_cluster_size
  cache_ttl_seconds        = var.api.cache_ttl_seconds
  usage_plans = merge(var.api.usage_plans, {
    web = merge(var.api.web, { api_keys = toset(["spa"]) })
  })
  create_web_acl      = var.api.create_web_acl
  kms_key_arn         = module.observability.kms_key_arn
  deletion_protection = var.deletion_protection
  # The authorizer's invoke ARN is built from its name (modules/authorizer: why); the
  # function name comes from the function, so the invoke permission waits for it.
  # (Each output by name: a splat of the module would depend on all of them, and close a loop.)
  authorizer_invoke_arn    = var.authorizer.package_path != null ? module.authorizer[0].invoke_arn : null
  authorizer_function_name = var.authorizer.package_path != null ? module.authorizer[0].function_name : null
  # compute = lambda: every operation invokes the function's live alias (aws_proxy). Its
  # invoke ARN built from the names, as the authorizer's is: the function's environment
  # names the token issuer, whose web client returns to the CDN, whose origin is this API,
  # so the alias's own invoke_arn here would close a loop (the module's postcondition keeps
  # the two equal).
  lambda_invoke_arn = local.is_lambda ? module.lambda[0].named_invoke_arn : null
  tags              = local.tags
}

# The origin path is the stage's name as given, not the stage's output: the stage waits for
# the authorizer function (its deployment does), whose environment names the web client,
# whose callback URL is this distribution's; reading the stage here would close that loop.
module "cdn" {
  source = "../cdn"

  name                           = local.name
  api_origin_domain              = module.api_gateway.execute_api_domain
  api_origin_path                = "/${local.stage_name}"
  api_origin_headers             = module.api_gateway.origin_verify_header_name == null ? {} : { (module.api_gateway.origin_verify_header_name) = module.api_gateway.origin_verify_header_value }
  api_default_key                = module.api_gateway.api_key_values["web/spa"]
  access_logs_bucket             = module.observability.access_logs_bucket
  access_logs_bucket_domain_name = module.observability.access_logs_bucket_domain_name
  aliases                        = var.cdn.aliases
  acm_certificate_arn            = var.cdn.acm_certificate_arn
  web_acl_arn                    = var.cdn.web_acl_arn
  price_class                    = var.cdn.price_class
  site_dir                       = var.site_dir
  force_destroy                  = var.environment == "dev"
  tags                           = local.tags
}

################################################################################
# The token issuer: a Cognito user pool (modules/identity)
################################################################################

module "identity" {
  source = "../identity"

  name            = local.name
  scopes          = local.contract_scopes
  service_clients = { for n, i in local.identities : n => { scopes = i.scopes } }
  web_client = {
    scopes = local.api_scopes
    # The SPA is served by CloudFront: it comes back there after sign-in and sign-out.
    callback_urls = [for d in concat(var.cdn.aliases, [module.cdn.domain_name]) : "https://${d}/"]
    logout_urls   = [for d in concat(var.cdn.aliases, [module.cdn.domain_name]) : "https://${d}/"]
  }
  api_key_store       = local.api_key_store
  kms_key_arn         = module.observability.kms_key_arn
  deletion_protection = var.deletion_protection
  tags                = local.tags
}

################################################################################
# The REST API's Lambda authorizer: the services' verifier settings, outside the VPC
################################################################################

module "authorizer" {
  source = "../authorizer"
  count  = var.authorizer.package_path != null ? 1 : 0

  name                 = "${local.name}-authorizer"
  package_path         = var.authorizer.package_path
  environment          = local.verifier_environment
  reserved_concurrency = var.authorizer.reserved_concurrency
  memory_size          = var.authorizer.memory_size
  timeout              = var.authorizer.timeout
  kms_key_arn          = module.observability.kms_key_arn
  log_retention_days   = var.log_retention_days
  alarm_topic_arn      = module.observability.alarm_topic_arn
  tags                 = local.tags
}

################################################################################
# Page-token signing keys: a secret per gRPC service, its value write-only
################################################################################

# List methods sign their page tokens with HMAC-SHA256 (runtime/pagetokens.py) under
# PAGE_TOKEN_KEYS, a comma list: the first key signs, every key verifies. Each gRPC
# service has a secret of its own, read by every task of that service. Its value comes
# in through the ephemeral var.page_token_keys (the live root generates it with Secrets
# Manager's GetRandomPassword) and is written with the write-only `secret_string_wo`:
# it is in neither the plan nor the state, and only var.page_token_key_version is
# compared, so a later plan leaves the secret alone until that version is raised.
resource "aws_secretsmanager_secret" "page_token_keys" {
  #checkov:skip=CKV2_AWS_57:Rotated by raising page_token_key_version (a new key first, the previous one kept to verify); a rotation Lambda would have to keep that order itself.
  for_each = local.grpc_services

  name                    = "${local.name}/page-tokens/${each.key}"
  description             = "PAGE_TOKEN_KEYS of ${each.key}: the HMAC keys of its page tokens, the first signs"
  kms_key_id              = module.observability.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0

  tags = merge(local.tags, { Service = each.key })
}

resource "aws_secretsmanager_secret_version" "page_token_keys" {
  for_each = local.grpc_services

  secret_id                = aws_secretsmanager_secret.page_token_keys[each.key].id
  secret_string_wo         = var.page_token_keys[each.key]
  secret_string_wo_version = var.page_token_key_version

  lifecycle {
    precondition {
      condition     = alltrue([for k in split(",", lookup(var.page_token_keys, each.key, "")) : length(trimspace(k)) >= 32])
      error_message = "page_token_keys lacks ${each.key}, or one of its keys is shorter than 32 characters."
    }
  }
}

################################################################################
# Containers: rendered once, run by ECS, exported for EKS and the rehearsal
################################################################################

module "service_container" {
  source   = "../container-definition"
  for_each = var.services

  name           = each.key
  image          = local.images[each.key]
  command        = each.value.command
  port           = each.value.port
  app_protocol   = each.value.protocol
  environment    = local.environment[each.key]
  secrets        = merge(each.value.secrets, local.service_secrets[each.key])
  health_check   = local.health_check[each.key]
  log_group_name = module.observability.log_group_names[each.key]
  log_region     = local.region
}

module "migrate_container" {
  source = "../container-definition"

  name        = "migrate"
  image       = local.images["migrate"]
  command     = var.migrate.command
  environment = local.migrate_environment
  # The RDS-managed master secret ({"username", "password"}), injected by ECS; with compute =
  # lambda also each service role's password, the `password` key of the secret RDS Proxy
  # logs in with (ECS reads one JSON key of a secret: <arn>:<key>::).
  secrets = merge(
    { DB_ADMIN_SECRET = module.aurora.master_user_secret_arn },
    # The version's ARN (the secret's): deploy.py's first phase (-target the bootstrap) then
    # writes the value before the task reads it.
    { for n, version in aws_secretsmanager_secret_version.db_user : "DB_PASSWORD_${upper(n)}" => "${version.arn}:password::" },
  )
  log_group_name = module.observability.log_group_names["migrate"]
  log_region     = local.region
}

################################################################################
# Compute: ECS Fargate (the cluster always exists: the bootstrap runs there)
################################################################################

module "ecs_cluster" {
  source = "../ecs-cluster"

  name                = local.name
  fargate_spot_weight = var.fargate_spot_weight
  tags                = local.tags
}

module "ecs_service" {
  source   = "../ecs-service"
  for_each = local.is_ecs ? var.services : {}

  name                          = each.key
  name_prefix                   = local.name
  cluster_arn                   = module.ecs_cluster.cluster_arn
  cluster_name                  = module.ecs_cluster.cluster_name
  vpc_id                        = module.network.vpc_id
  subnet_ids                    = module.network.private_subnet_ids
  container_definition          = module.service_container[each.key].definition
  sidecar_definitions           = local.obs.tracing ? [local.collector_definition[each.key]] : []
  xray_tracing                  = local.obs.tracing
  image_repository_arn          = local.image_repository_arn
  secret_arns                   = module.service_container[each.key].secret_arns
  cpu                           = local.sizing[each.key].cpu
  memory                        = local.sizing[each.key].memory
  cpu_architecture              = var.cpu_architecture
  container_port                = each.value.port
  app_protocol                  = each.value.protocol
  service_connect_namespace_arn = module.ecs_cluster.service_connect_namespace_arn
  publish_in_namespace          = each.value.protocol == "grpc"
  log_group_name                = module.observability.log_group_names[each.key]
  log_group_arn                 = module.observability.log_group_arns[each.key]
  load_balancers = each.value.protocol == "http" ? {
    http = { target_group_arn = module.alb.http_target_group_arn, container_port = each.value.port }
    } : {
    grpc = { target_group_arn = module.alb.grpc_target_group_arns[each.key], container_port = each.value.port }
  }
  ingress_security_group_ids = { alb = module.alb.security_group_id }
  # Service-to-service gRPC through Service Connect comes from inside the VPC.
  ingress_cidr_blocks        = each.value.protocol == "grpc" ? { vpc = module.network.vpc_cidr_block } : {}
  desired_count              = local.sizing[each.key].min_tasks
  min_capacity               = local.sizing[each.key].min_tasks
  max_capacity               = local.sizing[each.key].max_tasks
  requests_per_target        = each.value.protocol == "http" ? var.requests_per_target : null
  alb_resource_label         = each.value.protocol == "http" ? "${module.alb.arn_suffix}/${module.alb.http_target_group_arn_suffix}" : null
  capacity_provider_strategy = module.ecs_cluster.capacity_provider_strategy
  db_iam_auth = each.value.database ? {
    cluster_resource_id = module.aurora.cluster_resource_id
    db_user             = each.key
  } : null
  # The issuer's secrets and the page-token keys are under the environment's key: decrypted
  # through Secrets Manager only.
  secrets_kms_key_arns = length(local.service_secrets[each.key]) > 0 ? [module.observability.kms_key_arn] : []
  tags                 = local.tags
}

# The database bootstrap: a task definition without a service. deploy.py runs
# it (ecs run-task) after the apply that registers it and before the services
# roll to new images; see terraform/README.md.
module "migrate" {
  source = "../ecs-service"

  name                 = "migrate"
  name_prefix          = local.name
  create_service       = false
  cluster_arn          = module.ecs_cluster.cluster_arn
  cluster_name         = module.ecs_cluster.cluster_name
  vpc_id               = module.network.vpc_id
  subnet_ids           = module.network.private_subnet_ids
  container_definition = module.migrate_container.definition
  image_repository_arn = local.image_repository_arn
  secret_arns          = module.migrate_container.secret_arns
  # The master secret is encrypted with the Aurora module's customer managed
  # key: without kms:Decrypt on it the task cannot start. The service roles' passwords
  # (compute = lambda) are under the environment's key.
  secrets_kms_key_arns = concat([module.aurora.kms_key_arn], local.is_lambda ? [module.observability.kms_key_arn] : [])
  cpu                  = var.migrate.cpu
  memory               = var.migrate.memory
  cpu_architecture     = var.cpu_architecture
  container_port       = null
  log_group_name       = module.observability.log_group_names["migrate"]
  log_group_arn        = module.observability.log_group_arns["migrate"]
  tags                 = local.tags
}

# The bootstrap's way into the database, outside the aurora module: deploy.py's
# first phase targets it with the task (layout.MIGRATION_TARGETS), and a target
# inside the aurora module would pull in every service its other rules name.
resource "aws_vpc_security_group_ingress_rule" "migrate_to_database" {
  security_group_id            = module.aurora.security_group_id
  description                  = "PostgreSQL from the database bootstrap task"
  ip_protocol                  = "tcp"
  from_port                    = module.aurora.port
  to_port                      = module.aurora.port
  referenced_security_group_id = module.migrate.security_group_id
}

################################################################################
# Compute: EKS Auto Mode
################################################################################

module "eks" {
  source = "../eks"
  count  = local.is_eks ? 1 : 0

  name                   = local.name
  kubernetes_version     = var.eks.kubernetes_version
  vpc_id                 = module.network.vpc_id
  subnet_ids             = module.network.private_subnet_ids
  endpoint_public_access = var.eks.endpoint_public_access
  public_access_cidrs    = var.eks.public_access_cidrs
  api_access_cidrs       = var.eks.api_access_cidrs
  admin_principal_arns = merge(
    { for r in var.eks.admin_role_names : r => "arn:${local.partition}:iam::${local.account_id}:role/${r}" },
    var.eks.admin_principal_arns,
  )
  target_group_arns = concat([module.alb.http_target_group_arn], [for n in sort(keys(local.grpc_services)) : module.alb.grpc_target_group_arns[n]])
  load_balancer_ingress = {
    for n, s in var.services : n => { security_group_id = module.alb.security_group_id, port = s.port }
  }
  service_accounts = {
    for n, s in var.services : n => {
      namespace       = "colonnade"
      service_account = n
      db_user         = s.database ? n : null
      # What ECS injects, the Secrets Store CSI driver fetches with this identity on EKS.
      secret_arns          = values(merge(s.secrets, local.service_secrets[n]))
      secrets_kms_key_arns = length(local.service_secrets[n]) > 0 ? [module.observability.kms_key_arn] : []
    }
  }
  db_cluster_resource_id = module.aurora.cluster_resource_id
  tags                   = local.tags
}

# The ADOT collector is an ECS sidecar; the EKS manifests carry no collector, so on EKS the
# services export no spans (rather than retrying a collector that is not there) and this says so.
check "tracing_needs_ecs" {
  assert {
    condition     = !(local.obs.tracing && !local.is_ecs)
    error_message = "observability.tracing is on but compute is \"${var.compute}\": the trace collector runs only as an ECS sidecar, so the services export no spans there (metrics still reach CloudWatch as EMF; on Lambda, X-Ray's active tracing still records each invocation)."
  }
}

################################################################################
# Compute: AWS Lambda (compute = "lambda"; modules/lambda, BUILD.md "The serverless path")
################################################################################

locals {
  # One function serves the gateway, catalog and orders in process (colonnade.serverless). It
  # gets what their containers get, less what only a container or the network path needs
  # (listen addresses, worker counts, the gateway's backend list; the Lambda runtime sets
  # AWS_REGION; the module sets each service's DATABASE_URL to the proxy). A setting both
  # services share is set once; one that differs gets the service's prefix
  # (CATALOG_CACHE_URL), which that service alone reads (serverless.function.service_env),
  # so the 4 KB of a function's environment go further.
  lambda_name = "${local.name}-api"

  lambda_container_only = ["GRPC_HOST", "GRPC_PORT", "WORKERS", "AWS_REGION", "DATABASE_URL", "COLONNADE_GATEWAY_HOST", "COLONNADE_GATEWAY_PORT", "COLONNADE_GATEWAY_BACKENDS", "COLONNADE_GATEWAY_WORKERS"]
  lambda_services       = sort(keys(local.grpc_services))
  lambda_service_env = {
    for n in local.lambda_services : n => { for k, v in local.environment[n] : k => v if !contains(local.lambda_container_only, k) }
  }
  lambda_shared = length(local.lambda_services) == 0 ? [] : [
    for k, v in local.lambda_service_env[local.lambda_services[0]] : k if alltrue([for n, e in local.lambda_service_env : lookup(e, k, null) == v])
  ]
  lambda_environment = merge(
    length(local.lambda_services) == 0 ? {} : { for k in local.lambda_shared : k => local.lambda_service_env[local.lambda_services[0]][k] },
    merge([for n, e in local.lambda_service_env : { for k, v in e : "${upper(n)}_${k}" => v if !contains(local.lambda_shared, k) }]...),
    { for k, v in local.environment[local.gateway] : k => v if !contains(local.lambda_container_only, k) },
    { COLONNADE_SERVICES = join(",", local.lambda_services) },
  )
  # The containers' secrets (identity client secrets, the API key store, page-token keys), read
  # from Secrets Manager at cold start: names only in the function's configuration.
  lambda_secrets = merge(
    merge([for n in local.lambda_services : { for k, v in merge(var.services[n].secrets, local.service_secrets[n]) : "${upper(n)}_${k}" => v }]...),
    merge(var.services[local.gateway].secrets, local.service_secrets[local.gateway]),
  )
}

# RDS Proxy logs in to Aurora with a password per service role (aws 5.100 has no end-to-end
# IAM authentication for proxies); the function logs in to the proxy with IAM tokens. Each
# password is generated by the live root (GetRandomPassword, ephemeral) and written
# write-only: in neither plan nor state. The bootstrap task sets it on the role
# (DB_PASSWORD_<SERVICE>, above).
resource "aws_secretsmanager_secret" "db_user" {
  #checkov:skip=CKV2_AWS_57:Rotating it needs the bootstrap to set the new password on the role in the same step; not automated yet (BUILD.md).
  for_each = local.is_lambda ? toset(local.db_services) : toset([])

  name                    = "${local.name}/database/${each.key}"
  description             = "Aurora role ${each.key}'s password, with which RDS Proxy logs in for the Lambda function"
  kms_key_id              = module.observability.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0

  tags = merge(local.tags, { Service = each.key })
}

resource "aws_secretsmanager_secret_version" "db_user" {
  for_each = aws_secretsmanager_secret.db_user

  secret_id                = each.value.id
  secret_string_wo         = jsonencode({ username = each.key, password = lookup(var.db_passwords, each.key, "") })
  secret_string_wo_version = 1

  lifecycle {
    precondition {
      condition     = length(lookup(var.db_passwords, each.key, "")) >= 32
      error_message = "db_passwords lacks ${each.key}, or its password is shorter than 32 characters (compute = lambda: RDS Proxy logs in with it)."
    }
  }
}

module "lambda" {
  source = "../lambda"
  count  = local.is_lambda ? 1 : 0

  name         = local.lambda_name
  package_path = coalesce(var.lambda.package_path, "missing.zip")
  runtime      = var.lambda.runtime
  architecture = var.cpu_architecture == "ARM64" ? "arm64" : "x86_64"
  memory_size  = var.lambda.memory_size
  timeout      = var.lambda.timeout
  vpc_id       = module.network.vpc_id
  subnet_ids   = [for az in local.azs : module.network.private_subnet_ids[az]]
  # Cognito's keys and token endpoint, Secrets Manager (through its endpoint when there is one).
  https_egress            = true
  cache_security_group_id = module.cache.security_group_id
  cache_port              = module.cache.port
  database = {
    cluster_identifier = module.aurora.cluster_id
    security_group_id  = module.aurora.security_group_id
    name               = module.aurora.database_name
    port               = module.aurora.port
    users              = { for n in local.db_services : n => { db_user = n, secret_arn = aws_secretsmanager_secret_version.db_user[n].arn } }
    secret_kms_key_arn = module.observability.kms_key_arn
    # sslrootcert: the module's default, the Amazon roots the zip carries (RDS Proxy presents
    # an ACM certificate; the image's RDS CA bundle does not verify it).
  }
  environment             = local.lambda_environment
  secrets                 = local.lambda_secrets
  reserved_concurrency    = var.lambda.reserved_concurrency
  provisioned_concurrency = var.lambda.provisioned_concurrency
  snap_start              = var.lambda.snap_start
  maintenance_schedule    = var.lambda.maintenance_schedule
  tracing                 = local.obs.tracing
  kms_key_arn             = module.observability.kms_key_arn
  log_retention_days      = var.log_retention_days
  # What the API's execution_arn is in AWS, built from its id (moto's leaves the account out).
  api_execution_arn     = "arn:${local.partition}:execute-api:${local.region}:${local.account_id}:${module.api_gateway.rest_api_id}"
  create_api_permission = true
  alarm_topic_arn       = module.observability.alarm_topic_arn
  tags                  = local.tags
}
