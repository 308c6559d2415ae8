variable "name" {
  description = "Function name; also names its role, security groups, RDS Proxy, log group and alarms."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}[a-z0-9]$", var.name))
    error_message = "name must be 3-42 lowercase letters, digits and hyphens (RDS Proxy names end in -proxy within 60 characters)."
  }
}

variable "package_path" {
  description = "Path of the zip `make lambda` builds (build/lambda/colonnade-lambda-py<runtime>-<arch>.zip); its hash redeploys the function."
  type        = string
  nullable    = false

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path must name a .zip (SnapStart does not support container images)."
  }
}

variable "handler" {
  description = "Handler of the function (the gateway, catalog and orders in process)."
  type        = string
  default     = "colonnade.serverless.handler"
  nullable    = false
}

variable "runtime" {
  description = "Python managed runtime; SnapStart needs python3.12 or later."
  type        = string
  default     = "python3.11"
  nullable    = false

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.11, python3.12 or python3.13 (the versions the zip is built for)."
  }
}

variable "architecture" {
  description = "Instruction set of the function; must match the zip's wheels (LAMBDA_ARCH=aarch64 builds arm64)."
  type        = string
  default     = "x86_64"
  nullable    = false

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  description = "Memory in MB (CPU scales with it)."
  type        = number
  default     = 1024
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout" {
  description = "Function timeout in seconds; API Gateway's REST integration gives up after 29 s."
  type        = number
  default     = 29
  nullable    = false

  validation {
    condition     = var.timeout >= 3 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be whole seconds from 3 to 900."
  }
}

variable "vpc_id" {
  description = "VPC of the private subnets."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets (one per AZ) for the function's and the proxy's network interfaces."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids must list at least two distinct subnets (RDS Proxy needs two AZs)."
  }
}

variable "cache_security_group_id" {
  description = "Security group of the memcached cluster; the function may reach it on cache_port (and nothing else but the proxy)."
  type        = string
  nullable    = false
}

variable "cache_port" {
  description = "Memcached port."
  type        = number
  default     = 11211
  nullable    = false
}

variable "database" {
  description = <<-EOT
    Aurora PostgreSQL behind the RDS Proxy this module creates. cluster_identifier: the proxy's
    target; security_group_id: the cluster's group (the proxy's egress goes there; admit
    proxy_security_group_id in it); name: the database; users: per service served, its database
    user and the Secrets Manager secret (username/password) the proxy logs in with;
    secret_kms_key_arn: the key of those secrets when customer-managed; sslrootcert: the CA
    bundle path inside the package, by default the Amazon Trust Services roots `make lambda`
    puts there (RDS Proxy presents an ACM certificate, which chains to them).
  EOT
  type = object({
    cluster_identifier = string
    security_group_id  = string
    name               = string
    port               = optional(number, 5432)
    users = map(object({
      db_user    = string
      secret_arn = string
    }))
    secret_kms_key_arn = optional(string)
    sslrootcert        = optional(string, "/var/task/certs/amazon-root-cas.pem")
  })
  nullable = false

  validation {
    condition     = length(var.database.users) >= 1 && alltrue([for k, u in var.database.users : can(regex("^[a-z][a-z0-9_]*$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:", u.secret_arn))])
    error_message = "database.users needs at least one service (lowercase key) with a Secrets Manager secret_arn."
  }
}

variable "environment" {
  description = "Environment variables of the function (COLONNADE_SERVICES, CACHE_URL, CACHE_TLS, …). The module adds DB_IAM_AUTH, DB_STATEMENT_CACHE_SIZE=0 and <SERVICE>_DATABASE_URL for the proxy."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    # RDS Proxy pins a session that holds a named prepared statement, which asyncpg's statement
    # cache creates; behind the proxy it must stay off (BUILD.md, serverless section).
    condition     = alltrue([for k, v in var.environment : v == "0" if can(regex("^([A-Z][A-Z0-9]*_)?DB_STATEMENT_CACHE_SIZE$", k))])
    error_message = "environment: DB_STATEMENT_CACHE_SIZE (and <SERVICE>_DB_STATEMENT_CACHE_SIZE) must be \"0\" behind RDS Proxy: named prepared statements pin proxy sessions."
  }
  validation {
    condition     = alltrue([for k in keys(var.environment) : !can(regex("^(AWS_|_HANDLER$|_X_AMZN_TRACE_ID$|LAMBDA_)", k)) && !can(regex("DATABASE_URL$", k))])
    error_message = "environment: AWS_*, LAMBDA_*, _HANDLER and _X_AMZN_TRACE_ID are reserved by Lambda, and *DATABASE_URL is set by the module from the proxy endpoint."
  }
}

variable "secrets" {
  description = "Environment variables whose values the function reads from Secrets Manager at cold start (name => secret ARN; the whole secret string is the value), so they are in neither the function's configuration nor the state. The role may read exactly these; they must be encrypted with kms_key_arn (or the AWS managed key)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for k, v in var.secrets : can(regex("^[A-Z][A-Z0-9_]*$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^,=]+$", v))])
    error_message = "secrets: names are upper-case variable names, values Secrets Manager secret ARNs (no comma or =)."
  }
  validation {
    condition     = length(setintersection(keys(var.secrets), keys(var.environment))) == 0 && !contains(keys(var.environment), "COLONNADE_LAMBDA_SECRETS")
    error_message = "secrets: a name is both a plain environment variable and a secret (or COLONNADE_LAMBDA_SECRETS, which the module sets, is in environment)."
  }
}

variable "https_egress" {
  description = "Allow HTTPS (443) out to anywhere, through the NAT gateways or the VPC's interface endpoints: the token issuer's JWKS and token endpoint and Secrets Manager. Without it the function reaches only its proxy and memcached."
  type        = bool
  default     = false
  nullable    = false
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions: the most environments (and so proxy client connections) the function may run at once."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number of at least 1 (0 would stop the function)."
  }
}

variable "provisioned_concurrency" {
  description = "Pre-initialised environments on the live alias (0 = none). Not with snap_start."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number, 0 or more."
  }
}

variable "snap_start" {
  description = "SnapStart on published versions (python3.12+; not with provisioned concurrency)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tracing" {
  description = "X-Ray active tracing (the role may then put trace segments)."
  type        = bool
  default     = true
  nullable    = false
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the environment variables and the log group (e.g. the observability module's key; its policy must admit CloudWatch Logs)."
  type        = string
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the function's log group (CloudWatch Logs allowed value; 365+ in prod)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "maintenance_schedule" {
  description = "EventBridge schedule of the maintenance event (catalog expiry sweep, orders recovery); null for none."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = var.maintenance_schedule == null || can(regex("^(rate\\(\\d+ (minute|minutes|hour|hours|day|days)\\)|cron\\(.+\\))$", var.maintenance_schedule))
    error_message = "maintenance_schedule must be an EventBridge rate(...) or cron(...) expression, or null."
  }
}

variable "api_execution_arn" {
  description = "Execution ARN of the REST API allowed to invoke the live alias (arn:aws:execute-api:<region>:<account>:<api-id>); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.api_execution_arn == null || can(regex("^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:[a-z0-9]+$", var.api_execution_arn))
    error_message = "api_execution_arn must be a REST API execution ARN without stage or path (arn:aws:execute-api:<region>:<account>:<api-id>)."
  }
}

variable "create_api_permission" {
  description = "Whether to create the API Gateway invoke permission; null: when api_execution_arn is set. Set it to true when the API is created in the same apply (its execution ARN is then unknown at plan time, and a count cannot depend on it)."
  type        = bool
  default     = null
}

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  type        = string
  nullable    = false
}

variable "alarm_errors_threshold" {
  description = "Errors (uncaught exceptions, timeouts) per 5 minutes that raise the alarm."
  type        = number
  default     = 1
  nullable    = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
