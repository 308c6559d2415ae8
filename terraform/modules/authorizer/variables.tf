variable "name" {
  description = "Function name; also names its role, log group (/aws/lambda/<name>) and alarms."
  type        = string
  nullable    = false

  validation {
    # Lambda function names: 1-64 letters, digits, hyphens, underscores; IAM role names end at 64.
    condition     = can(regex("^[a-z][a-z0-9-]{1,62}[a-z0-9]$", var.name))
    error_message = "name must be 3-64 lowercase letters, digits and hyphens (a Lambda function name and an IAM role name)."
  }
}

variable "package_path" {
  description = "Path of the zip `make lambda` builds (build/lambda/colonnade-lambda-py<v>-<arch>.zip, the one package of every handler); its hash redeploys the function."
  type        = string
  nullable    = false

  validation {
    condition     = endswith(var.package_path, ".zip") && fileexists(var.package_path)
    error_message = "package_path must name an existing .zip (run `make lambda`, then pass build/lambda/colonnade-lambda-py3.11-x86_64.zip)."
  }
}

variable "handler" {
  description = "Handler of the function: the gateway's own verification code answering API Gateway's REQUEST authorizer events."
  type        = string
  default     = "colonnade.gateway.authorizer.handler"
  nullable    = false
}

variable "runtime" {
  description = "Python managed runtime; must be the version the zip was built for (LAMBDA_PYTHON)."
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
  description = "Memory in MB (CPU scales with it: more shortens the cold start's imports)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB from 128 to 10240."
  }
}

variable "timeout" {
  description = "Function timeout in seconds. API Gateway waits at most 10 s for a Lambda authorizer's answer (10,000 ms, not adjustable) and then answers 500 itself; a shorter Lambda timeout ends the invocation first, so it counts in the function's Errors and Duration."
  type        = number
  default     = 6
  nullable    = false

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 10 && floor(var.timeout) == var.timeout
    error_message = "timeout must be whole seconds from 1 to 10: API Gateway gives up on a Lambda authorizer after 10 s."
  }
}

variable "environment" {
  description = "The verifier's settings, the same AUTH_* variables the services get from the identity module (AUTH_JWKS, AUTH_ISSUER, AUTH_TOKEN_USE, AUTH_CLIENT_IDS, AUTH_SCOPE_PREFIX)."
  type        = map(string)
  nullable    = false

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^AUTH_[A-Z0-9_]+$", k))])
    error_message = "environment: only AUTH_* variables (the verifier's settings); the authorizer needs nothing else."
  }
  validation {
    # Outside a VPC the function reaches the issuer's public JWKS over HTTPS; a file path
    # would have to be inside the package, and plain HTTP keys could be swapped in transit.
    condition     = startswith(lookup(var.environment, "AUTH_JWKS", ""), "https://") && lookup(var.environment, "AUTH_ISSUER", "") != ""
    error_message = "environment: AUTH_JWKS must be the issuer's https:// JWKS URL and AUTH_ISSUER must be set (the verifier refuses tokens it cannot check)."
  }
  validation {
    # HS256 with a shared secret is for local development only; in AWS the issuer is Cognito.
    condition     = !contains(keys(var.environment), "AUTH_HS256_SECRET") && lower(lookup(var.environment, "AUTH_ALLOW_HS256", "false")) == "false" && lower(lookup(var.environment, "AUTH_MODE", "enforce")) == "enforce"
    error_message = "environment: AUTH_HS256_SECRET, AUTH_ALLOW_HS256 and AUTH_MODE=off are local-development settings; the authorizer verifies the issuer's asymmetric tokens only."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions. API Gateway caches each token's answer (authorizerResultTtlInSeconds), so the function runs once per token per TTL, not per request; the reservation keeps other functions from starving it and caps what a flood of distinct bad tokens can run."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number of at least 1 (0 would stop the function: every protected call would get 500)."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key of the log group (the observability module's key; its policy admits CloudWatch Logs for /aws/lambda/<environment>-*)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
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

variable "alarm_topic_arn" {
  description = "SNS topic the alarms notify (the environment's)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN."
  }
}

variable "alarm_errors_threshold" {
  description = "Errors per 5 minutes that raise the errors alarm. A refused token is an error too (raising `Unauthorized` is how a Lambda authorizer makes API Gateway answer 401), so this sits above the usual rate of bad tokens."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.alarm_errors_threshold >= 1
    error_message = "alarm_errors_threshold must be at least 1."
  }
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
