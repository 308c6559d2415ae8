variable "project" {
  description = "Project name, the first part of every resource name."
  type        = string
  default     = "colonnade"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.project))
    error_message = "project must be 2-12 lower-case letters and digits."
  }
}

variable "environment" {
  description = "Environment: dev, staging or prod. It picks the data modules' defaults and names the API stage."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "availability_zones" {
  description = "Exactly three Availability Zones of the region."
  type        = list(string)

  validation {
    condition     = length(distinct(var.availability_zones)) == 3
    error_message = "availability_zones must list three distinct AZs."
  }
}

variable "vpc_cidr" {
  description = "VPC CIDR (/16): per AZ a /20 private, a /24 public and a /24 database subnet are carved from it."
  type        = string
  default     = "10.0.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a /16 IPv4 CIDR."
  }
}

variable "nat_gateway_mode" {
  description = "`per_az` (HA, staging and prod) or `single` (dev)."
  type        = string
  default     = "per_az"
  nullable    = false
}

variable "interface_endpoints" {
  description = "Interface VPC endpoints of the private subnets (null: the network module's default, ecr.api, ecr.dkr, logs, secretsmanager, sts). Each costs an hourly charge per AZ (about $120 a month for the default set over three AZs, an estimate): an environment may trade them for NAT traffic."
  type        = set(string)
  default     = null
}

variable "compute" {
  description = "Where the services run: `ecs` (Fargate services managed here), `eks` (an EKS Auto Mode cluster; the services are deployed from the manifests scripts/k8s_manifests.py renders from this module's outputs, bound to the same ALB target groups) or `lambda` (one function serving the gateway, catalog and orders in process behind RDS Proxy, invoked by API Gateway's aws_proxy integrations; `lambda` sizes it). The database bootstrap runs as an ECS one-shot task in every case."
  type        = string
  default     = "ecs"
  nullable    = false

  validation {
    condition     = contains(["ecs", "eks", "lambda"], var.compute)
    error_message = "compute must be ecs, eks or lambda."
  }
  # The function serves the gateway, catalog and orders in process (colonnade.serverless); it
  # knows no other service, and it runs from the zip `make lambda` builds.
  validation {
    condition     = var.compute != "lambda" || (alltrue([for n, s in var.services : contains(["catalog", "orders"], n) if s.protocol == "grpc"]) && var.lambda.package_path != null)
    error_message = "compute = lambda serves only the catalog and orders services (colonnade.serverless), from lambda.package_path (the zip `make lambda` builds), which must be set."
  }
}

variable "lambda" {
  description = "The function that serves the API when compute is lambda (modules/lambda): package_path, the zip `make lambda` builds; runtime (python3.12+ for snap_start), memory, timeout (at most 29 s: API Gateway's REST integration gives up then, and the handler's deadlines end before the function's), reserved and provisioned concurrency (on the live alias), SnapStart, and the maintenance schedule (catalog expiry sweep, orders recovery)."
  type = object({
    package_path            = optional(string)
    runtime                 = optional(string, "python3.11")
    memory_size             = optional(number, 1024)
    timeout                 = optional(number, 29)
    reserved_concurrency    = optional(number, 20)
    provisioned_concurrency = optional(number, 0)
    snap_start              = optional(bool, false)
    maintenance_schedule    = optional(string, "rate(1 minute)")
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.lambda.timeout <= 29
    error_message = "lambda.timeout must be at most 29 s: API Gateway's REST integration times out at 29 s, so a longer function would run on after the client got a 504."
  }
}

variable "db_passwords" {
  description = "compute = lambda: the password of each database service's role, with which RDS Proxy logs in to Aurora (written write-only into its secret on creation; the live root generates them with GetRandomPassword). Ephemeral: never in plan or state."
  type        = map(string)
  default     = {}
  ephemeral   = true
  sensitive   = true
  nullable    = false
}

variable "cpu_architecture" {
  description = "CPU architecture of the image (the release builds it for one): `X86_64` or `ARM64`. ECS task definitions and the EKS manifests' node selector follow it; ARM64 tasks cannot use FARGATE_SPOT."
  type        = string
  default     = "X86_64"
  nullable    = false

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "image_repository" {
  description = "Where the image comes from: the account root's ECR repository `name` (shared by every environment, so a digest tested in staging is the one prod runs), or a full `url` instead (a local registry for the rehearsal)."
  type = object({
    name = optional(string, "colonnade")
    url  = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.image_repository.url == null || !can(regex("[@]|:[^/]*$", coalesce(var.image_repository.url, "x")))
    error_message = "image_repository.url must not carry a tag or digest: those come from image_digests."
  }
}

variable "image_digests" {
  description = "Image per workload (every service and `migrate`): `sha256:<64 hex>` (what the release writes into the environment's images.auto.tfvars.json) or an immutable tag before the first release. Services roll independently by getting different digests of the same repository."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for d in values(var.image_digests) : can(regex("^sha256:[0-9a-f]{64}$", d)) || (can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", d)) && !startswith(d, "sha256") && d != "latest")])
    error_message = "Each image must be a digest (sha256: and 64 lower-case hex digits) or an immutable tag other than latest."
  }

  validation {
    condition     = toset(keys(var.image_digests)) == setunion(keys(var.services), ["migrate"])
    error_message = "image_digests needs exactly one entry per service and one for migrate (${join(", ", sort(setunion(keys(var.services), ["migrate"])))})."
  }
}

variable "migrate" {
  description = "The database bootstrap, an ECS one-shot task `scripts/deploy.py <env> apply` runs before services roll: command and Fargate size."
  type = object({
    command = optional(list(string), ["colonnade-migrate"])
    cpu     = optional(number, 256)
    memory  = optional(number, 512)
  })
  default  = {}
  nullable = false
}

variable "services" {
  description = <<-EOT
    The service topology: one entry per service, driving its ECS service (or Kubernetes objects), ALB target group and routes, the gateway's backend list, database and cache access, IAM database user, log group and alarms. Adding a service is one entry (and its digest in image_digests).
    - `command`: console script of the one image (`colonnade-<name>`).
    - `protocol`: `grpc`, or `http` for the REST gateway (exactly one: the ALB's default route and API Gateway's backend).
    - `port`; `grpc_packages`: the versioned proto packages it serves (the ALB routes `/<package>.*` to it, the gateway maps each to it).
    - `health_path`: HTTP readiness path of an `http` service.
    - `database`: a login role and schema of its own (made by colonnade-migrate), reached with IAM authentication; `cache`: memcached.
    - `environment`, `secrets` (name => Secrets Manager ARN): extra variables.
    - `identity`: the service calls others with an identity of its own, an app client of the environment's token issuer (identity module) with the client credentials grant and these `scopes` (contract scopes); `delegate = true` for the gateway, which calls on behalf of the callers it verified (the services trust its client id to forward them) and is given every contract scope (Cognito needs at least one; a delegate can claim any caller's scopes anyway).
    - `sizing`: per environment, Fargate `cpu`/`memory` and the autoscaling floor/ceiling `min_tasks`/`max_tasks` (the floor is the initial count).
  EOT
  type = map(object({
    command       = list(string)
    protocol      = string
    port          = number
    grpc_packages = optional(list(string), [])
    health_path   = optional(string, "/readyz")
    database      = optional(bool, false)
    cache         = optional(bool, false)
    environment   = optional(map(string), {})
    secrets       = optional(map(string), {})
    identity = optional(object({
      delegate = optional(bool, false)
      scopes   = optional(list(string), [])
    }))
    sizing = map(object({
      cpu       = number
      memory    = number
      min_tasks = number
      max_tasks = number
    }))
  }))
  nullable = false

  validation {
    condition     = alltrue([for n in keys(var.services) : can(regex("^[a-z][a-z0-9]{1,20}$", n)) && n != "migrate"])
    error_message = "Service names are 2-21 lower-case letters and digits (they name containers, target groups and database roles); migrate is the bootstrap's."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : contains(["grpc", "http"], s.protocol)]) && length([for s in values(var.services) : s if s.protocol == "http"]) == 1
    error_message = "Every service speaks grpc or http, and exactly one (the REST gateway) speaks http."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.protocol == "http" ? length(s.grpc_packages) == 0 : length(s.grpc_packages) >= 1 && length(s.grpc_packages) <= 5])
    error_message = "A gRPC service serves 1-5 packages (ALB rule limit); the http gateway serves none."
  }

  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for p in s.grpc_packages : can(regex("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*\\.v[0-9]+$", p))]])) && length(flatten([for s in values(var.services) : s.grpc_packages])) == length(distinct(flatten([for s in values(var.services) : s.grpc_packages])))
    error_message = "grpc_packages are versioned proto packages (colonnade.catalog.v1), each served by one service."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.port > 1024 && s.port < 65536 && startswith(s.health_path, "/") && length(s.command) > 0 && !(s.protocol == "http" && (s.database || s.cache))])
    error_message = "Ports are unprivileged (>1024; the image runs as uid 10001), health paths start with /, every service has a command, and the gateway holds no database or cache."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : s.identity == null || try(s.identity.delegate, false) != (length(try(s.identity.scopes, [])) > 0)])
    error_message = "A service identity is a delegate (every scope) or names its scopes, one of the two."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : contains(keys(s.sizing), var.environment)])
    error_message = "Every service needs sizing for ${var.environment}."
  }

  validation {
    condition     = alltrue([for s in values(var.services) : alltrue([for z in values(s.sizing) : z.min_tasks >= 1 && z.min_tasks <= z.max_tasks])])
    error_message = "Every service needs 1 <= min_tasks <= max_tasks."
  }

  # Fargate's CPU/memory combinations (ECS developer guide, task definition
  # parameters for Fargate).
  validation {
    condition = alltrue([for s in values(var.services) : alltrue([for z in values(s.sizing) : contains(
      lookup({
        "256"  = [512, 1024, 2048]
        "512"  = [1024, 2048, 3072, 4096]
        "1024" = [2048, 3072, 4096, 5120, 6144, 7168, 8192]
        "2048" = [for m in range(4096, 16385, 1024) : m]
        "4096" = [for m in range(8192, 30721, 1024) : m]
      }, tostring(z.cpu), []),
      z.memory
    )])])
    error_message = "Each sizing needs a Fargate CPU/memory combination (256: 512-2048 MiB; 512: 1-4 GiB; 1024: 2-8 GiB; 2048: 4-16 GiB; 4096: 8-30 GiB, in whole GiB)."
  }
}

variable "fargate_spot_weight" {
  description = "FARGATE_SPOT weight against FARGATE's 1 beyond the first task of each service (0 = no Spot)."
  type        = number
  default     = 0
  nullable    = false
}

variable "requests_per_target" {
  description = "ALB requests per task per minute that trigger a scale-out of the REST gateway."
  type        = number
  default     = 1000
  nullable    = false
}

variable "aurora" {
  description = "Aurora Serverless v2 sizing: min ACUs (0 = scale to zero, dev only), max ACUs and instance count (null: 1 dev, 2 staging, 3 prod)."
  type = object({
    min_capacity   = number
    max_capacity   = number
    instance_count = optional(number)
  })
  default = { min_capacity = 0.5, max_capacity = 8 }
}

variable "cache" {
  description = "Memcached sizing."
  type = object({
    node_type       = string
    num_cache_nodes = number
  })
  default = { node_type = "cache.t4g.small", num_cache_nodes = 3 }
}

variable "eks" {
  description = "EKS settings, used when compute is eks: Kubernetes version, endpoint exposure, the networks that reach the private endpoint, and the administrators (role names in this account, or full principal ARNs); at least one is required."
  type = object({
    kubernetes_version     = optional(string, "1.33")
    endpoint_public_access = optional(bool, false)
    public_access_cidrs    = optional(list(string), [])
    api_access_cidrs       = optional(map(string), {})
    admin_role_names       = optional(list(string), [])
    admin_principal_arns   = optional(map(string), {})
  })
  default  = {}
  nullable = false
}

variable "certificate_arn" {
  description = "ACM certificate (in the environment's region) of the ALB's HTTPS listener: publicly trusted (API Gateway refuses private CAs unless verification is skipped), covering backend_host."
  type        = string
}

variable "certificate_domain_names" {
  description = "Names the certificate_arn certificate is issued for (domain name and SANs; wildcards allowed). backend_host and every API integration host must be one of them."
  type        = list(string)
}

variable "backend_host" {
  description = "Host name API Gateway calls through the VPC link (the Host and SNI the ALB sees) and internal gRPC clients use: a name in certificate_domain_names. Required: the NLB's DNS name can never be covered by a certificate."
  type        = string
  nullable    = false
}

variable "alb_ingress_cidrs" {
  description = "Extra CIDRs allowed to reach the internal ALB (for example a peered corporate network), keyed by name. The VPC is always allowed."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "deletion_protection" {
  description = "Deletion protection of the load balancers (prod). Aurora follows the environment's defaults."
  type        = bool
  nullable    = false
}

variable "page_token_keys" {
  description = "PAGE_TOKEN_KEYS per gRPC service (a comma list of keys, the first signs), written to its secret when `page_token_key_version` changes. Ephemeral: never in plan or state."
  type        = map(string)
  ephemeral   = true
  sensitive   = true
  nullable    = false
}

variable "page_token_key_version" {
  description = "Generation of `page_token_keys`: raising it writes them to the secrets again and changes the gRPC services' task definitions (PAGE_TOKEN_KEY_VERSION), so they roll and read the new keys; see terraform/README.md."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.page_token_key_version >= 1 && floor(var.page_token_key_version) == var.page_token_key_version
    error_message = "page_token_key_version must be a whole number, 1 or more."
  }
}

variable "log_retention_days" {
  description = "Retention of the service log groups."
  type        = number
  default     = 365
  nullable    = false
}

variable "observability" {
  description = "Metrics and traces of the services. Metrics: CloudWatch EMF lines in the logs every `emf_interval_seconds` (0: none), so CloudWatch makes metrics of them with no agent. Traces (`tracing`): spans over OTLP to an ADOT collector sidecar (`collector_image`) that sends them to X-Ray; requests arriving without a traceparent are sampled with `trace_sample_ratio`. Access log: the gRPC services write an access line for this share of their successful calls (`access_log_sample`; failed calls always get one; metrics and traces count every call). `thresholds`: the alarm thresholds (the observability module's `thresholds`; unset ones keep its defaults)."
  type = object({
    emf_interval_seconds = optional(number, 60)
    tracing              = optional(bool, false)
    trace_sample_ratio   = optional(number, 0.05)
    access_log_sample    = optional(number, 0.01)
    collector_image      = optional(string, "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.1")
    thresholds = optional(object({
      error_rate_percent           = optional(number)
      p99_latency_seconds          = optional(number)
      aurora_cpu_percent           = optional(number)
      aurora_acu_percent           = optional(number)
      cache_evictions_per5m        = optional(number)
      service_error_rate_percent   = optional(number)
      service_p99_seconds          = optional(number)
      cache_degraded_minutes       = optional(number)
      db_pool_exhausted_per_minute = optional(number)
    }), {})
  })
  default  = {}
  nullable = false

  validation {
    condition     = var.observability.trace_sample_ratio >= 0 && var.observability.trace_sample_ratio <= 1 && var.observability.emf_interval_seconds >= 0 && var.observability.access_log_sample >= 0 && var.observability.access_log_sample <= 1
    error_message = "trace_sample_ratio and access_log_sample must be between 0 and 1, emf_interval_seconds 0 or more."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses that receive the alarms."
  type        = set(string)
  default     = []
  nullable    = false
}

variable "openapi_body" {
  description = "The API Gateway OpenAPI 3.0 document (JSON text) imported as the REST API. Its `x-colonnade-scopes` (every scope the contracts declare) become the token issuer's scopes."
  type        = string
}

variable "api" {
  description = "API Gateway stage settings: throttling, optional cache (size and TTL), usage plans, WAF, and the web plan whose key CloudFront adds to the SPA's (keyless) calls."
  type = object({
    throttling_rate_limit  = optional(number, 1000)
    throttling_burst_limit = optional(number, 500)
    cache_cluster_size     = optional(string)
    cache_ttl_seconds      = optional(number, 60)
    create_web_acl         = optional(bool, true)
    usage_plans = optional(map(object({
      rate_limit   = number
      burst_limit  = number
      quota_limit  = optional(number)
      quota_period = optional(string, "MONTH")
      api_keys     = set(string)
    })), {})
    web = optional(object({
      rate_limit   = number
      burst_limit  = number
      quota_limit  = optional(number)
      quota_period = optional(string, "DAY")
    }), { rate_limit = 50, burst_limit = 100 })
  })
  default  = {}
  nullable = false

  validation {
    condition     = !contains(keys(var.api.usage_plans), "web")
    error_message = "The web usage plan is the SPA's (api.web); name partner plans otherwise."
  }
}

variable "authorizer" {
  description = "The REST API's Lambda REQUEST authorizer (modules/authorizer). package_path: the zip `make lambda` builds (null: no authorizer, as before: the document's colonnade_jwt scheme is dropped with a warning and the gateway alone verifies tokens). The rest sizes the function."
  type = object({
    package_path         = optional(string)
    reserved_concurrency = optional(number, 20)
    memory_size          = optional(number, 512)
    timeout              = optional(number, 6)
  })
  default  = {}
  nullable = false
}

variable "cdn" {
  description = "CloudFront settings: custom domain names with their us-east-1 certificate, price class, and the CLOUDFRONT-scope web ACL (edge-waf module, us-east-1) that rate-limits each client and screens addresses. The live root creates the ACL and passes its ARN."
  type = object({
    aliases             = optional(list(string), [])
    acm_certificate_arn = optional(string)
    price_class         = optional(string, "PriceClass_100")
    web_acl_arn         = optional(string)
  })
  default  = {}
  nullable = false
}

variable "site_dir" {
  description = "Directory of the web UI's static files (services/colonnade/web) that the cdn module publishes; null publishes nothing."
  type        = string
  default     = null
}

variable "backup_copy_vault_arn" {
  description = "Backup vault in the DR region that receives a copy of every Aurora recovery point (null: no copy)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource (the root's provider default_tags add Project/Environment)."
  type        = map(string)
  default     = {}
  nullable    = false
}
