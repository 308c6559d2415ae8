variable "name" {
  description = "REST API name (for example `colonnade-prod`); also the prefix of the VPC link, NLB and log group."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 lower-case letters, digits and hyphens (the NLB target group adds a suffix)."
  }
}

variable "openapi_body" {
  description = "The API Gateway variant of the OpenAPI 3.0 document (JSON), imported as the REST API's body. Its `x-amazon-apigateway-integration`s reach the backend through the VPC link with `connectionId: $${stageVariables.vpcLinkId}` and `uri: https://$${stageVariables.backendHost}/...`; this module sets both stage variables. A change of the document triggers a new deployment."
  type        = string

  validation {
    condition     = can(jsondecode(var.openapi_body).openapi) && startswith(try(jsondecode(var.openapi_body).openapi, ""), "3.0")
    error_message = "openapi_body must be an OpenAPI 3.0.x JSON document (API Gateway rejects 3.1)."
  }
  validation {
    # API Gateway's integration timeout for REST APIs is 50 ms to 29 s (its quotas page; more
    # only by a quota increase, for Regional APIs); the Lambda variant keeps each operation's.
    condition = alltrue(flatten([
      for path, ops in try(jsondecode(var.openapi_body).paths, {}) : [
        for method, op in ops : try(op["x-amazon-apigateway-integration"].timeoutInMillis, 29000) >= 50 && try(op["x-amazon-apigateway-integration"].timeoutInMillis, 29000) <= 29000
      ]
    ]))
    error_message = "openapi_body: every x-amazon-apigateway-integration's timeoutInMillis must be 50-29000 (API Gateway's REST integration timeout)."
  }
  validation {
    # API Gateway caches a Lambda authorizer's answer for authorizerResultTtlInSeconds, 0 (no
    # cache) to 3600 (its maximum); a cached REQUEST authorizer is keyed on its identity
    # sources, so it needs at least one.
    condition = alltrue([
      for name, s in try(jsondecode(var.openapi_body).components.securitySchemes, {}) : (
        try(s["x-amazon-apigateway-authorizer"].authorizerResultTtlInSeconds, 300) >= 0 &&
        try(s["x-amazon-apigateway-authorizer"].authorizerResultTtlInSeconds, 300) <= 3600 &&
        (try(s["x-amazon-apigateway-authorizer"].authorizerResultTtlInSeconds, 300) == 0 || lower(try(s["x-amazon-apigateway-authorizer"].type, "token")) != "request" || try(s["x-amazon-apigateway-authorizer"].identitySource, "") != "")
      ) if can(s["x-amazon-apigateway-authorizer"])
    ])
    error_message = "openapi_body: an x-amazon-apigateway-authorizer's authorizerResultTtlInSeconds must be 0-3600 (API Gateway's maximum), and a cached REQUEST authorizer needs an identitySource (its cache key)."
  }
}

variable "fail_on_warnings" {
  description = "Fail the import when API Gateway reports warnings about the document."
  type        = bool
  default     = true
  nullable    = false
}

variable "stage_name" {
  description = "Stage name (the environment: dev, staging, prod)."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9_]{1,64}$", var.stage_name))
    error_message = "stage_name must be 1-64 letters, digits or underscores."
  }
}

variable "vpc_id" {
  description = "VPC of the VPC link's network load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnet IDs keyed by Availability Zone for the VPC link's network load balancer."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "The VPC link's load balancer must span at least three AZs."
  }
}

variable "alb_arn" {
  description = "ARN of the internal ALB behind the VPC link (REST API VPC links reach a network load balancer, which forwards TCP 443 to this ALB)."
  type        = string
}

variable "alb_https_listener_arn" {
  description = "ARN of the ALB's HTTPS listener; the NLB target group attaches only once it exists."
  type        = string
}

variable "backend_host" {
  description = "Host name the integrations call (`stageVariables.backendHost`) and the Host/SNI the ALB sees. API Gateway checks the ALB's certificate against it, so it must be a name in certificate_domain_names, served by a publicly trusted certificate (ACM public, not ACM Private CA); it need not resolve, since the VPC link carries the traffic (a private Route 53 record lets internal gRPC clients use it too)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.backend_host)) && !can(regex("\\.elb\\.([a-z0-9-]+\\.)?amazonaws\\.com$", var.backend_host))
    error_message = "backend_host must be a DNS name the ALB certificate covers, not the load balancer's *.elb.amazonaws.com name (no certificate can cover it)."
  }
}

variable "certificate_domain_names" {
  description = "Names the ALB's certificate is issued for (its domain name and subject alternative names, wildcards allowed): every integration host must be one of them."
  type        = list(string)

  validation {
    condition     = length(var.certificate_domain_names) > 0 && alltrue([for d in var.certificate_domain_names : can(regex("^(\\*\\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", d))])
    error_message = "certificate_domain_names must list the certificate's DNS names (wildcards as *.example.com)."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second allowed per method across all clients of the stage."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.throttling_rate_limit > 0
    error_message = "throttling_rate_limit must be positive."
  }
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed per method across all clients of the stage."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.throttling_burst_limit > 0
    error_message = "throttling_burst_limit must be positive."
  }
}

variable "cache_cluster_size" {
  description = "Size in GB of the stage cache cluster (0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237); null disables the cache."
  type        = string
  default     = null

  validation {
    condition     = var.cache_cluster_size == null || contains(["0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237"], coalesce(var.cache_cluster_size, "0.5"))
    error_message = "cache_cluster_size must be one of 0.5, 1.6, 6.1, 13.5, 28.4, 58.2, 118, 237."
  }
}

variable "cache_ttl_seconds" {
  description = "Seconds a cached GET answer is served (with a stage cache): 1-3600."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.cache_ttl_seconds >= 1 && var.cache_ttl_seconds <= 3600
    error_message = "cache_ttl_seconds must be between 1 and 3600 (API Gateway's maximum)."
  }
}

variable "usage_plans" {
  description = "Usage plans keyed by tier name, each with throttling, an optional quota, the names of the API keys it holds (keys are generated by API Gateway; they meter and throttle, they do not authenticate) and per rate-limit class limits applied to every method of that class (the document's x-colonnade-policy)."
  type = map(object({
    rate_limit   = number
    burst_limit  = number
    quota_limit  = optional(number)
    quota_period = optional(string, "MONTH")
    api_keys     = set(string)
    class_limits = optional(map(object({ rate_limit = number, burst_limit = number })), {})
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for p in values(var.usage_plans) : contains(["DAY", "WEEK", "MONTH"], p.quota_period)])
    error_message = "quota_period must be DAY, WEEK or MONTH."
  }
}

variable "create_web_acl" {
  description = "Create a regional WAFv2 web ACL and attach it to the stage: it blocks requests without CloudFront's x-origin-verify header (output `origin_verify_header_*`), so the stage is reachable only through CloudFront, and applies the AWS managed common and known-bad-inputs rules. Address-based rules belong to the CLOUDFRONT-scope ACL (edge-waf module)."
  type        = bool
  default     = true
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the access and WAF log groups (CloudWatch Logs allowed value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the log groups (its policy must allow CloudWatch Logs for `/<name>/*` and `aws-waf-logs-<name>` log groups, as the observability module's key does)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "deletion_protection" {
  description = "Deletion protection of the VPC link's network load balancer."
  type        = bool
  default     = true
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "authorizer_invoke_arn" {
  description = "Invoke ARN of the Lambda REQUEST authorizer (colonnade.gateway.authorizer.handler) that the document names for non-public methods; null drops the authorizer from the document (a check warns)."
  type        = string
  default     = null

  validation {
    condition     = var.authorizer_invoke_arn == null || can(regex("^arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/.+/invocations$", coalesce(var.authorizer_invoke_arn, "x")))
    error_message = "authorizer_invoke_arn must be a Lambda invoke ARN (aws_lambda_function.invoke_arn)."
  }
}

variable "authorizer_function_name" {
  description = "Name or ARN of the authorizer function, to let API Gateway invoke it (null: the permission is managed elsewhere). Pass the function's own attribute, not a string built from its name: the permission, and the deployment that waits for it, then wait for the function."
  type        = string
  default     = null
}

variable "lambda_invoke_arn" {
  description = "Invoke ARN of the function serving the API (the lambda module's `invoke_arn`, its live alias): every operation's http_proxy integration becomes an `aws_proxy` integration of it (httpMethod POST). Allow API Gateway to invoke it for `<execution_arn>/*/*/*` (the lambda module's `api_execution_arn`). null: the integrations reach the ALB through the VPC link."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_invoke_arn == null || can(regex("^arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/2015-03-31/functions/arn:[a-z-]+:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_-]+)?/invocations$", coalesce(var.lambda_invoke_arn, "x")))
    error_message = "lambda_invoke_arn must be a Lambda function's invoke ARN (arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations)."
  }
}
