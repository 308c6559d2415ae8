# The platform composition: the services map drives every per-service
# resource, and the containers get exactly the environment the code reads.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

# The data modules' outputs, fixed so the rendered environment can be compared exactly.
override_module {
  target = module.aurora
  outputs = {
    endpoint               = "colonnade-dev.cluster-abc.eu-west-1.rds.amazonaws.com"
    port                   = 5432
    database_name          = "colonnade"
    master_user_secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf"
    kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/aurora"
    cluster_resource_id    = "cluster-ABC"
    cluster_arn            = "arn:aws:rds:eu-west-1:123456789012:cluster:colonnade-dev"
    cluster_id             = "colonnade-dev"
    security_group_id      = "sg-aurora"
  }
}

override_module {
  target = module.cache
  outputs = {
    cluster_address        = "colonnade-dev.abc.cfg.euw1.cache.amazonaws.com"
    port                   = 11211
    configuration_endpoint = "colonnade-dev.abc.cfg.euw1.cache.amazonaws.com:11211"
    cluster_id             = "colonnade-dev"
    security_group_id      = "sg-cache"
  }
}

override_module {
  target = module.api_gateway
  outputs = {
    rest_api_name              = "colonnade-dev"
    stage_name                 = "dev"
    execute_api_domain         = "abc.execute-api.eu-west-1.amazonaws.com"
    vpc_link_security_group_id = "sg-vpclink"
    origin_verify_header_name  = "x-origin-verify"
    origin_verify_header_value = "s3cr3t"
    api_key_values             = { "web/spa" = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" }
    invoke_url                 = "https://abc.execute-api.eu-west-1.amazonaws.com/dev"
    execution_arn              = "arn:aws:execute-api:eu-west-1:123456789012:abc"
    rest_api_id                = "abc"
  }
}

override_module {
  target = module.identity
  outputs = {
    issuer                     = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    jwks_url                   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
    token_endpoint             = "https://colonnade-dev-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/token"
    authorize_endpoint         = "https://colonnade-dev-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
    scope_prefix               = "colonnade-dev/"
    scopes                     = ["catalog.products.write"]
    user_pool_id               = "eu-west-1_AbC"
    user_pool_arn              = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbC"
    service_client_ids         = { gateway = "gatewayclient" }
    service_client_secret_arns = { gateway = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-client-secret-AbCdEf" }
    web_client_id              = "webclient"
    client_ids                 = ["gatewayclient", "webclient"]
    api_key_store_secret_arn   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-api-keys-AbCdEf"
  }
}

# The version's ARN (the secret's) fixed, so the injected secrets compare exactly.
override_resource {
  target          = aws_secretsmanager_secret_version.page_token_keys
  override_during = plan
  values = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/page-tokens/catalog-AbCdEf"
  }
}

variables {
  environment = "dev"
  # Ephemeral in the module (the live root generates them): written, never stored.
  page_token_keys = {
    catalog = "test-catalog-page-token-key-0000000000000000"
    orders  = "test-orders-page-token-key-00000000000000000"
  }
  availability_zones       = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  nat_gateway_mode         = "single"
  certificate_arn          = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  certificate_domain_names = ["*.internal.example.com"]
  backend_host             = "api.internal.example.com"
  deletion_protection      = false
  # The contracts' scopes travel in the generated document (x-colonnade-scopes).
  openapi_body = jsonencode(merge(jsondecode(file("../api-gateway/tests/fixtures/openapi.json")), {
    "x-colonnade-scopes" = { "catalog.products.write" = ["colonnade.catalog.v1.CatalogService.CreateProduct", "colonnade.catalog.v2.CatalogService.CreateProduct"] }
  }))
  aurora = { min_capacity = 0, max_capacity = 4 }
  cache  = { node_type = "cache.t4g.micro", num_cache_nodes = 2 }
  services = {
    gateway = {
      command  = ["colonnade-gateway"]
      protocol = "http"
      port     = 8080
      identity = { delegate = true }
      sizing   = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
    }
    catalog = {
      command       = ["colonnade-catalog"]
      protocol      = "grpc"
      port          = 50051
      grpc_packages = ["colonnade.catalog.v1", "colonnade.catalog.v2"]
      database      = true
      cache         = true
      sizing        = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
    }
  }
  image_digests = {
    gateway = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
    catalog = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
    migrate = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
  }
}

run "ecs_compute" {
  command = plan

  assert {
    condition     = toset(keys(module.ecs_service)) == toset(["gateway", "catalog"]) && length(module.eks) == 0
    error_message = "compute = ecs: one ECS service per entry of the services map (no orders), no EKS."
  }

  assert {
    condition     = output.images["catalog"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade@sha256:2222222222222222222222222222222222222222222222222222222222222222"
    error_message = "Each workload runs its digest of the account's one repository."
  }

  assert {
    condition     = local.subnets["eu-west-1b"].private == "10.0.32.0/20" && local.subnets["eu-west-1c"].database == "10.0.10.0/24"
    error_message = "Subnets are carved per AZ position."
  }

  assert {
    condition     = output.services["catalog"].min_tasks == 1 && output.services["catalog"].protocol == "grpc" && output.services["gateway"].port == 8080
    error_message = "The resolved topology (this environment's sizing) is exported."
  }

  assert {
    condition     = length(module.authorizer) == 0 && output.authorizer == null
    error_message = "Without a package there is no authorizer function (the api-gateway module drops the scheme)."
  }
}

run "the_authorizer_from_the_package" {
  command = plan

  variables {
    authorizer = { package_path = "../authorizer/tests/fixtures/function.zip" }
  }

  assert {
    condition     = output.authorizer.function_name == "colonnade-dev-authorizer" && output.authorizer.log_group_name == "/aws/lambda/colonnade-dev-authorizer"
    error_message = "One authorizer per environment, logging under the environment's prefix (the observability key admits /aws/lambda/<name>-*)."
  }

  assert {
    condition     = output.authorizer.invoke_arn == "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-dev-authorizer/invocations"
    error_message = "The invoke ARN the document gets names the environment's function."
  }

  assert {
    # (As JSON: the provider's map and an object literal are different types.)
    condition = jsonencode(module.authorizer[0].environment) == jsonencode({
      AUTH_JWKS         = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
      AUTH_ISSUER       = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
      AUTH_TOKEN_USE    = "access"
      AUTH_CLIENT_IDS   = "gatewayclient,webclient"
      AUTH_SCOPE_PREFIX = "colonnade-dev/"
    })
    error_message = "The authorizer verifies with the identity module's settings, the services' own."
  }

  assert {
    condition = jsonencode(module.authorizer[0].environment) == jsonencode({
      for e in output.container_definitions["gateway"].environment : trimprefix(e.name, "COLONNADE_GATEWAY_") => e.value
      if contains(["AUTH_JWKS", "AUTH_ISSUER", "AUTH_TOKEN_USE", "AUTH_CLIENT_IDS", "AUTH_SCOPE_PREFIX"], trimprefix(e.name, "COLONNADE_GATEWAY_"))
    })
    error_message = "…exactly what the gateway behind it verifies with."
  }
}

run "containers_get_what_the_code_reads" {
  command = plan

  assert {
    condition = { for e in output.container_definitions["catalog"].environment : e.name => e.value } == {
      SERVICE_NAME    = "catalog"
      GRPC_HOST       = "0.0.0.0"
      GRPC_PORT       = "50051"
      AWS_REGION      = "eu-west-1"
      DATABASE_URL    = "postgresql://catalog@colonnade-dev.cluster-abc.eu-west-1.rds.amazonaws.com:5432/colonnade?sslmode=verify-full&sslrootcert=/etc/colonnade/certs/rds-ca-bundle.pem"
      DB_IAM_AUTH     = "1"
      DB_MIGRATE      = "false"
      CACHE_URL       = "memcached://colonnade-dev.abc.cfg.euw1.cache.amazonaws.com:11211"
      CACHE_TLS       = "true"
      CACHE_DISCOVERY = "true"
      CACHE_LOCAL_TTL = "1"
      # EMF lines every minute; traces off (no sidecar) unless observability.tracing.
      METRICS_EMF_INTERVAL = "60"
      TRACE_SAMPLE_RATIO   = "0.05"
      # One worker per vCPU (256 CPU units: one); 1 % of the successful calls logged.
      WORKERS           = "1"
      LOG_ACCESS_SAMPLE = "0.01"
      # Read by nothing: raising page_token_key_version changes it, so the tasks roll.
      PAGE_TOKEN_KEY_VERSION = "1"
      # The contracts' policies, against the environment's token issuer; the gateway's
      # client is the delegate whose forwarded callers it believes.
      AUTH_MODE              = "enforce"
      AUTH_JWKS              = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
      AUTH_ISSUER            = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
      AUTH_TOKEN_USE         = "access"
      AUTH_CLIENT_IDS        = "gatewayclient,webclient"
      AUTH_SCOPE_PREFIX      = "colonnade-dev/"
      AUTH_TRUSTED_DELEGATES = "gatewayclient"
    }
    error_message = "A data service: IAM-authenticated verify-full PostgreSQL with the image's RDS bundle, no start-up migrations, memcached over TLS through the configuration endpoint with 1 s hot entries, EMF metrics, one worker per vCPU, a sampled access log, the issuer's tokens enforced."
  }

  assert {
    condition = { for s in output.container_definitions["catalog"].secrets : s.name => s.valueFrom } == {
      PAGE_TOKEN_KEYS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/page-tokens/catalog-AbCdEf"
      } && { for s in output.container_definitions["gateway"].secrets : s.name => s.valueFrom } == {
      COLONNADE_GATEWAY_API_KEYS              = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-api-keys-AbCdEf"
      COLONNADE_GATEWAY_SERVICE_CLIENT_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-client-secret-AbCdEf"
    }
    error_message = "Only a service with an identity gets a client secret (its own), only the gateway the API key store, and only a gRPC service page-token keys."
  }

  assert {
    condition = { for e in output.container_definitions["gateway"].environment : e.name => e.value } == {
      COLONNADE_GATEWAY_HOST                 = "0.0.0.0"
      COLONNADE_GATEWAY_PORT                 = "8080"
      COLONNADE_GATEWAY_BACKENDS             = "colonnade.catalog.v1=catalog:50051,colonnade.catalog.v2=catalog:50051"
      COLONNADE_GATEWAY_WORKERS              = "1"
      COLONNADE_GATEWAY_METRICS_EMF_INTERVAL = "60"
      COLONNADE_GATEWAY_TRACE_SAMPLE_RATIO   = "0.05"
      COLONNADE_GATEWAY_AUTH_JWKS            = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"
      COLONNADE_GATEWAY_AUTH_ISSUER          = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
      COLONNADE_GATEWAY_AUTH_TOKEN_USE       = "access"
      COLONNADE_GATEWAY_AUTH_CLIENT_IDS      = "gatewayclient,webclient"
      COLONNADE_GATEWAY_AUTH_SCOPE_PREFIX    = "colonnade-dev/"
      COLONNADE_GATEWAY_SERVICE_TOKEN_URL    = "https://colonnade-dev-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/token"
      COLONNADE_GATEWAY_SERVICE_CLIENT_ID    = "gatewayclient"
    }
    error_message = "The gateway gets the COLONNADE_GATEWAY_* variables it reads, with a backend for each package of each existing service only (catalog serves v1 and v2)."
  }

  assert {
    condition     = output.container_definitions["gateway"].healthCheck.command == tolist(["CMD", "colonnade-healthcheck", "http", "http://127.0.0.1:8080/readyz"]) && output.container_definitions["catalog"].healthCheck.command == tolist(["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:50051"])
    error_message = "Health checks run colonnade-healthcheck."
  }

  assert {
    condition     = output.container_definitions["catalog"].command == tolist(["colonnade-catalog"]) && output.container_definitions["gateway"].command == tolist(["colonnade-gateway"])
    error_message = "One image; the command picks the process."
  }
}

run "tracing_adds_the_collector_sidecar" {
  command = plan

  variables {
    observability = {
      tracing            = true
      trace_sample_ratio = 0.1
      access_log_sample  = 1
      thresholds         = { service_p99_seconds = 0.3 }
    }
  }

  assert {
    condition = (
      length(module.ecs_service["catalog"].container_definitions) == 2
      && module.ecs_service["catalog"].container_definitions[1].name == "otel-collector"
      && module.ecs_service["catalog"].container_definitions[1].essential == false
    )
    error_message = "With tracing, each task gets the ADOT collector beside it, not essential."
  }

  assert {
    condition = (
      { for e in output.container_definitions["catalog"].environment : e.name => e.value }["TRACE_EXPORTERS"] == "otlp"
      && { for e in output.container_definitions["catalog"].environment : e.name => e.value }["OTLP_ENDPOINT"] == "http://127.0.0.1:4317"
      && { for e in output.container_definitions["gateway"].environment : e.name => e.value }["COLONNADE_GATEWAY_TRACE_EXPORTERS"] == "otlp"
      && { for e in output.container_definitions["gateway"].environment : e.name => e.value }["COLONNADE_GATEWAY_TRACE_SAMPLE_RATIO"] == "0.1"
      && { for e in output.container_definitions["catalog"].environment : e.name => e.value }["LOG_ACCESS_SAMPLE"] == "1"
    )
    error_message = "Services and the gateway export OTLP to the sidecar on loopback, at the environment's ratio; the access log share follows observability too."
  }

  assert {
    condition     = contains(module.observability.alarm_names, "colonnade-dev-catalog-cache-degraded") && contains(module.observability.alarm_names, "colonnade-dev-gateway-p99")
    error_message = "The services' own metrics are alarmed per service."
  }
}

run "the_bootstrap_task" {
  command = plan

  assert {
    condition = { for e in output.container_definitions["migrate"].environment : e.name => e.value } == {
      DB_HOST        = "colonnade-dev.cluster-abc.eu-west-1.rds.amazonaws.com"
      DB_PORT        = "5432"
      DB_NAME        = "colonnade"
      DB_SSLMODE     = "verify-full"
      DB_SSLROOTCERT = "/etc/colonnade/certs/rds-ca-bundle.pem"
      DB_IAM_AUTH    = "true"
      DB_SERVICES    = "catalog"
      AWS_REGION     = "eu-west-1"
    }
    error_message = "colonnade-migrate gets the database, TLS settings and the services that have a database."
  }

  assert {
    condition     = output.container_definitions["migrate"].secrets[0] == { name = "DB_ADMIN_SECRET", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-abc-AbCdEf" } && length(output.container_definitions["migrate"].secrets) == 1 && output.container_definitions["migrate"].command == tolist(["colonnade-migrate"])
    error_message = "The RDS-managed master secret is injected as DB_ADMIN_SECRET."
  }

  assert {
    condition     = output.migrate_task.container_name == "migrate" && module.migrate.service_name == null
    error_message = "A task definition without a service, for ecs run-task."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.migrate_to_database.security_group_id == "sg-aurora" && aws_vpc_security_group_ingress_rule.migrate_to_database.from_port == 5432
    error_message = "The bootstrap task reaches the database."
  }
}

run "adding_a_service_is_one_entry" {
  command = plan

  variables {
    services = {
      gateway = {
        command  = ["colonnade-gateway"]
        protocol = "http"
        port     = 8080
        identity = { delegate = true }
        sizing   = { dev = { cpu = 2048, memory = 4096, min_tasks = 1, max_tasks = 2 } }
      }
      catalog = {
        command       = ["colonnade-catalog"]
        protocol      = "grpc"
        port          = 50051
        grpc_packages = ["colonnade.catalog.v1", "colonnade.catalog.v2"]
        database      = true
        cache         = true
        sizing        = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
      }
      orders = {
        command       = ["colonnade-orders"]
        protocol      = "grpc"
        port          = 50051
        grpc_packages = ["colonnade.orders.v1"]
        database      = true
        sizing        = { dev = { cpu = 2048, memory = 4096, min_tasks = 1, max_tasks = 2 } }
      }
    }
    image_digests = {
      gateway = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
      catalog = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
      orders  = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
      migrate = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
    }
  }

  assert {
    condition     = toset(keys(module.ecs_service)) == toset(["gateway", "catalog", "orders"]) && toset(keys(module.alb.grpc_target_group_arns)) == toset(["catalog", "orders"])
    error_message = "The new entry gets an ECS service and a gRPC target group."
  }

  assert {
    condition     = { for e in output.container_definitions["gateway"].environment : e.name => e.value }["COLONNADE_GATEWAY_BACKENDS"] == "colonnade.catalog.v1=catalog:50051,colonnade.catalog.v2=catalog:50051,colonnade.orders.v1=orders:50051"
    error_message = "The gateway learns the new backend."
  }

  assert {
    condition     = { for e in output.container_definitions["migrate"].environment : e.name => e.value }["DB_SERVICES"] == "catalog,orders" && toset(keys(local.db_clients)) == toset(["catalog", "orders"])
    error_message = "The bootstrap makes its database role and Aurora admits it."
  }

  assert {
    condition     = toset(keys(local.cache_clients)) == toset(["catalog"]) && { for e in output.container_definitions["orders"].environment : e.name => e.value }["CACHE_URL"] == "none"
    error_message = "Only services that ask for the cache reach it."
  }

  assert {
    condition = (
      aws_secretsmanager_secret.page_token_keys["orders"].name == "colonnade-dev/page-tokens/orders"
      && aws_secretsmanager_secret.page_token_keys["catalog"].name == "colonnade-dev/page-tokens/catalog"
      && !contains(keys(aws_secretsmanager_secret.page_token_keys), "gateway")
      && contains([for sec in output.container_definitions["orders"].secrets : sec.name], "PAGE_TOKEN_KEYS")
    )
    error_message = "Each gRPC service signs its page tokens with keys of its own (the gateway signs none)."
  }

  assert {
    condition     = contains(keys(module.observability.log_group_names), "orders")
    error_message = "It gets a log group (and, through its target group, alarms)."
  }

  assert {
    condition = (
      { for e in output.container_definitions["orders"].environment : e.name => e.value }["WORKERS"] == "2"
      && { for e in output.container_definitions["catalog"].environment : e.name => e.value }["WORKERS"] == "1"
      && { for e in output.container_definitions["gateway"].environment : e.name => e.value }["COLONNADE_GATEWAY_WORKERS"] == "2"
      && !contains(keys({ for e in output.container_definitions["orders"].environment : e.name => e.value }), "CACHE_LOCAL_TTL")
    )
    error_message = "A gRPC service and the gateway run one worker per vCPU of their task (2048 units: 2, 256: 1); no hot cache entries without a cache."
  }
}

run "page_token_keys_are_write_only_and_rotate_by_version" {
  command = plan

  variables {
    page_token_key_version = 2
  }

  assert {
    condition = (
      aws_secretsmanager_secret_version.page_token_keys["catalog"].secret_string_wo_version == 2
      && aws_secretsmanager_secret_version.page_token_keys["catalog"].secret_string == null
    )
    error_message = "The keys are written write-only (nothing in state), again when the version is raised."
  }

  assert {
    condition     = { for e in output.container_definitions["catalog"].environment : e.name => e.value }["PAGE_TOKEN_KEY_VERSION"] == "2"
    error_message = "Raising the version changes the task definition, so the tasks restart and read the new keys."
  }

  assert {
    condition     = module.service_container["catalog"].secret_arns == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/page-tokens/catalog-AbCdEf"]
    error_message = "The task execution role may read the service's page-token secret (what the container reads, it grants)."
  }
}

run "rejects_a_missing_or_short_page_token_key" {
  command = plan

  variables {
    page_token_keys = { catalog = "too-short" }
  }

  expect_failures = [aws_secretsmanager_secret_version.page_token_keys]
}

run "eks_compute" {
  command = plan

  variables {
    compute = "eks"
    eks     = { admin_role_names = ["colonnade-admin"], api_access_cidrs = { vpn = "172.16.0.0/16" } }
  }

  assert {
    condition     = length(module.ecs_service) == 0 && length(module.eks) == 1
    error_message = "compute = eks: the EKS cluster instead of ECS services."
  }

  assert {
    condition     = output.ecs_cluster_name != null && output.migrate_task.container_name == "migrate"
    error_message = "The bootstrap still runs as an ECS one-shot task."
  }

  assert {
    condition     = toset(keys(local.db_clients)) == toset(["eks"]) && aws_vpc_security_group_ingress_rule.migrate_to_database.from_port == 5432
    error_message = "Aurora admits the cluster's pods and, by its own rule, the bootstrap."
  }

  assert {
    condition     = output.kubernetes.architecture == "amd64" && output.kubernetes.namespace == "colonnade"
    error_message = "The manifests' node selector follows the image's architecture."
  }
}

# The db_user secrets' ARNs fixed, so the bootstrap's password references compare exactly.
run "lambda_compute" {
  command = plan

  variables {
    compute      = "lambda"
    lambda       = { package_path = "../lambda/tests/fixtures/function.zip" }
    db_passwords = { catalog = "catalog-role-password-000000000000000000", orders = "orders-role-password-0000000000000000000" }
    services = {
      gateway = {
        command  = ["colonnade-gateway"]
        protocol = "http"
        port     = 8080
        identity = { delegate = true }
        sizing   = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
      }
      catalog = {
        command       = ["colonnade-catalog"]
        protocol      = "grpc"
        port          = 50051
        grpc_packages = ["colonnade.catalog.v1", "colonnade.catalog.v2"]
        database      = true
        cache         = true
        sizing        = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
      }
      orders = {
        command       = ["colonnade-orders"]
        protocol      = "grpc"
        port          = 50052
        grpc_packages = ["colonnade.orders.v1"]
        database      = true
        environment   = { CATALOG_TARGET = "catalog:50051" }
        sizing        = { dev = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
      }
    }
    page_token_keys = {
      catalog = "test-catalog-page-token-key-0000000000000000"
      orders  = "test-orders-page-token-key-00000000000000000"
    }
    image_digests = {
      gateway = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
      catalog = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
      orders  = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
      migrate = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
    }
  }

  assert {
    condition     = length(module.ecs_service) == 0 && length(module.eks) == 0 && length(module.lambda) == 1
    error_message = "compute = lambda: one function, no ECS service and no EKS cluster."
  }

  assert {
    condition     = output.ecs_cluster_name != null && output.migrate_task.container_name == "migrate"
    error_message = "The bootstrap still runs as an ECS one-shot task."
  }

  assert {
    condition     = toset(keys(local.db_clients)) == toset(["lambda_proxy"]) && toset(keys(local.cache_clients)) == toset(["lambda"])
    error_message = "Aurora admits only the RDS Proxy (and the bootstrap), memcached only the function."
  }

  assert {
    condition     = module.lambda[0].named_invoke_arn == "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-dev-api:live/invocations"
    error_message = "API Gateway invokes the function's live alias."
  }

  assert {
    condition     = local.lambda_environment["COLONNADE_SERVICES"] == "catalog,orders" && local.lambda_environment["AUTH_MODE"] == "enforce" && local.lambda_environment["AUTH_JWKS"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json" && local.lambda_environment["COLONNADE_GATEWAY_AUTH_ISSUER"] == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
    error_message = "The function serves both services and verifies tokens as the containers do: shared settings once, the gateway's under its prefix."
  }

  assert {
    condition     = local.lambda_environment["CATALOG_CACHE_URL"] == "memcached://colonnade-dev.abc.cfg.euw1.cache.amazonaws.com:11211" && local.lambda_environment["ORDERS_CACHE_URL"] == "none" && local.lambda_environment["CATALOG_SERVICE_NAME"] == "catalog" && !contains(keys(local.lambda_environment), "CACHE_URL")
    error_message = "What differs between the services is set per service, under its prefix."
  }

  assert {
    condition     = length(setintersection(keys(local.lambda_environment), ["GRPC_PORT", "GRPC_HOST", "WORKERS", "AWS_REGION", "DATABASE_URL", "CATALOG_DATABASE_URL", "COLONNADE_GATEWAY_BACKENDS", "COLONNADE_GATEWAY_PORT", "PAGE_TOKEN_KEYS", "CATALOG_PAGE_TOKEN_KEYS"])) == 0
    error_message = "No container-only setting, no database URL (the module points them at the proxy) and no secret value."
  }

  assert {
    condition     = local.lambda_secrets["CATALOG_PAGE_TOKEN_KEYS"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/page-tokens/catalog-AbCdEf" && local.lambda_secrets["COLONNADE_GATEWAY_SERVICE_CLIENT_SECRET"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-client-secret-AbCdEf" && local.lambda_secrets["COLONNADE_GATEWAY_API_KEYS"] == "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/gateway-api-keys-AbCdEf"
    error_message = "The page-token keys, the gateway's client secret and its API key store are named as secrets, read at cold start."
  }

  assert {
    condition     = toset(keys(aws_secretsmanager_secret.db_user)) == toset(["catalog", "orders"]) && aws_secretsmanager_secret_version.db_user["catalog"].secret_string_wo_version == 1 && aws_secretsmanager_secret_version.db_user["catalog"].secret_string_wo == null
    error_message = "A secret per database role for RDS Proxy, its password write-only."
  }

  assert {
    condition     = { for e in output.container_definitions["migrate"].environment : e.name => e.value }["DB_IAM_AUTH"] == "false" && toset([for e in output.container_definitions["migrate"].secrets : e.name]) == toset(["DB_ADMIN_SECRET", "DB_PASSWORD_CATALOG", "DB_PASSWORD_ORDERS"])
    error_message = "The bootstrap sets each role's password (RDS Proxy logs in with it) instead of rds_iam."
  }
}

run "lambda_compute_needs_the_package" {
  command = plan

  variables {
    compute = "lambda"
  }

  expect_failures = [var.compute]
}

run "lambda_timeout_beyond_api_gateways_29_s_is_refused" {
  command = plan

  variables {
    lambda = { timeout = 30 }
  }

  expect_failures = [var.lambda]
}

run "rejects_a_missing_or_malformed_image" {
  command = plan

  variables {
    image_digests = {
      gateway = "sha256:abc"
      catalog = "latest"
    }
  }

  expect_failures = [var.image_digests]
}

run "rejects_two_gateways_and_missing_sizing" {
  command = plan

  variables {
    services = {
      gateway = {
        command  = ["colonnade-gateway"]
        protocol = "http"
        port     = 8080
        sizing   = { prod = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 } }
      }
      catalog = {
        command  = ["colonnade-catalog"]
        protocol = "http"
        port     = 8081
        sizing   = { dev = { cpu = 256, memory = 4096, min_tasks = 1, max_tasks = 2 } }
      }
    }
    image_digests = { gateway = "1.0.0", catalog = "1.0.0", migrate = "1.0.0" }
  }

  expect_failures = [var.services]
}

run "rejects_unknown_compute" {
  command = plan

  variables {
    compute = "lambda"
  }

  expect_failures = [var.compute]
}
