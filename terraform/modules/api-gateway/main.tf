data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  subnet_list = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
  cache       = var.cache_cluster_size != null
  document    = jsondecode(var.openapi_body)

  origin_verify_header = "x-origin-verify"

  # Every GET the stage cache may serve, keyed "<path> GET", with all of its
  # path, query and header parameters (path-level ones included). The cache is
  # keyed only on declared cache key parameters (api-gateway-caching.html), so
  # each of them must be one, or `?filter=` and `{product}` variants share an
  # entry. A GET whose contract policy (x-colonnade-policy) declares no cache
  # TTL is not cached; one that does is cached for that TTL (a document
  # without policies: every GET, for cache_ttl_seconds).
  cached_methods = local.cache ? merge([for path, ops in local.document.paths : {
    for method, op in ops : "${path} GET" => {
      path = path
      ttl  = try(op["x-colonnade-policy"].cacheTtlSeconds, var.cache_ttl_seconds)
      cache_keys = [
        for p in concat(try(ops.parameters, []), try(op.parameters, [])) :
        "method.request.${p.in == "query" ? "querystring" : p.in}.${p.name}" if contains(["path", "query", "header"], p.in)
      ]
    } if lower(method) == "get" && can(op["x-amazon-apigateway-integration"]) && try(op["x-colonnade-policy"].cacheTtlSeconds, 1) > 0
  }]...) : {}

  # The Lambda authorizer the document names for non-public methods
  # (colonnade.gateway.authorizer). Given its function, the function's invoke
  # ARN replaces the document's placeholder; without one the requirement is
  # dropped (a check warns: the gateway behind still verifies every token).
  authorizer_scheme = "colonnade_jwt"
  schemes           = try(local.document.components.securitySchemes, {})
  has_authorizer    = contains(keys(local.schemes), local.authorizer_scheme)
  use_authorizer    = local.has_authorizer && var.authorizer_invoke_arn != null
  schemes_json = local.use_authorizer ? jsonencode(merge(local.schemes, {
    (local.authorizer_scheme) = merge(try(local.schemes[local.authorizer_scheme], {}), {
      "x-amazon-apigateway-authorizer" = merge(try(local.schemes[local.authorizer_scheme]["x-amazon-apigateway-authorizer"], {}), {
        authorizerUri = var.authorizer_invoke_arn
      })
    })
  })) : jsonencode({ for k, v in local.schemes : k => v if k != local.authorizer_scheme })
  # The contract policies (x-colonnade-policy) are read here, not by API Gateway, and the
  # contracts' scopes (x-colonnade-scopes) by the identity module: they are left out of
  # the imported body rather than trusting the importer to ignore them.
  has_policies = can(local.document["x-colonnade-scopes"]) || anytrue(flatten([for path, ops in local.document.paths : [for method, op in ops : can(op["x-colonnade-policy"])]]))
  rewrite      = local.cache || local.has_authorizer || local.has_policies || local.lambda

  # The Lambda variant (compute = "lambda"): every operation's integration becomes a Lambda
  # proxy integration of the function's live alias. What AWS asks of one
  # (set-up-lambda-integrations.html): type aws_proxy, httpMethod POST (a Lambda is invoked
  # with POST whatever the client's method), uri the function's invoke ARN, and a resource
  # policy letting API Gateway invoke it (the lambda module's, for this API's execution ARN).
  # The VPC link's connection, the path and query mappings and the integration responses go:
  # the proxy event carries the whole request and the function's answer is the response.
  # The cache keys and namespace stay (they name method request parameters).
  lambda = var.lambda_invoke_arn != null
  operations = merge([for path, ops in local.document.paths : {
    for method, op in ops : "${path} ${upper(method)}" => op["x-amazon-apigateway-integration"] if can(op["x-amazon-apigateway-integration"])
  }]...)
  integrations = { for key, integration in local.operations : key => jsondecode(local.lambda ? jsonencode(merge(
    { for k, v in integration : k => v if contains(["cacheKeyParameters", "cacheNamespace"], k) },
    {
      type                = "aws_proxy"
      httpMethod          = "POST"
      uri                 = var.lambda_invoke_arn
      passthroughBehavior = "when_no_match"
      timeoutInMillis     = min(29000, try(integration.timeoutInMillis, 29000))
    },
  )) : jsonencode(integration)) }
  # Integrations the Lambda variant cannot stand in for: only the generator's http_proxy ones
  # are known to be the REST gateway's routes.
  not_http_proxy = [for key, integration in local.operations : key if lower(try(integration.type, "")) != "http_proxy"]

  # The imported document: the given one, plus cacheKeyParameters on every
  # cached GET integration when the stage has a cache, and the authorizer
  # wired (or dropped) as above.
  body = local.rewrite ? jsonencode(merge({ for k, v in local.document : k => v if k != "x-colonnade-scopes" }, {
    components = merge(try(local.document.components, {}), { securitySchemes = jsondecode(local.schemes_json) })
    paths = { for path, ops in local.document.paths : path => merge(ops, {
      for method, op in ops : method => merge({ for k, v in op : k => v if k != "x-colonnade-policy" },
        jsondecode(local.use_authorizer || !can(op.security) ? "{}" : jsonencode({
          security = [for req in op.security : { for k, v in req : k => v if k != local.authorizer_scheme }]
        })),
        jsondecode(contains(keys(local.cached_methods), "${path} ${upper(method)}") ? jsonencode({
          "x-amazon-apigateway-integration" = merge(local.integrations["${path} ${upper(method)}"], {
            cacheKeyParameters = distinct(concat(try(op["x-amazon-apigateway-integration"].cacheKeyParameters, []), try(local.cached_methods["${path} GET"].cache_keys, [])))
          })
        }) : jsonencode({ "x-amazon-apigateway-integration" = local.integrations["${path} ${upper(method)}"] }))
      ) if can(op["x-amazon-apigateway-integration"])
    }) }
  })) : var.openapi_body

  # Each operation's rate-limit class ("<resource path>/<METHOD>", the usage
  # plan's method throttle path), from the contract policies in the document.
  method_classes = flatten([
    for path, ops in local.document.paths : [
      for method, op in ops : { path = "${path}/${upper(method)}", class = op["x-colonnade-policy"].rateLimitClass }
      if can(op["x-colonnade-policy"].rateLimitClass)
    ]
  ])

  # Host of every integration URI, with the backendHost stage variable
  # resolved: API Gateway checks the ALB's certificate against it.
  integration_hosts = distinct(flatten([
    for path, ops in local.document.paths : [
      for method, op in ops : regex("^[a-z]+://([^/:]+)", replace(op["x-amazon-apigateway-integration"].uri, "$${stageVariables.backendHost}", var.backend_host))[0]
      if can(op["x-amazon-apigateway-integration"].uri) && can(regex("^https?://", op["x-amazon-apigateway-integration"].uri))
    ]
  ]))
  # A certificate name covers a host exactly, or as a wildcard for one label.
  uncovered_hosts = [
    for h in local.integration_hosts : h if !anytrue([
      for d in var.certificate_domain_names :
      lower(d) == lower(h) || (startswith(d, "*.") && length(split(".", h)) == length(split(".", d)) && endswith(lower(h), lower(substr(d, 1, -1))))
    ])
  ]
  api_keys = merge([
    for plan, p in var.usage_plans : { for k in p.api_keys : "${plan}/${k}" => { plan = plan, key = k } }
  ]...)
}

################################################################################
# VPC link: REST API VPC links reach an NLB, which forwards TCP 443 to the ALB
################################################################################

resource "aws_security_group" "vpc_link" {
  name_prefix = "${var.name}-vpc-link-"
  description = "NLB of the ${var.name} API Gateway VPC link"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-vpc-link" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "vpc_link_https" {
  security_group_id = aws_security_group.vpc_link.id
  description       = "HTTPS from inside the VPC (health checks, internal callers)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_vpc_security_group_egress_rule" "vpc_link_alb" {
  security_group_id = aws_security_group.vpc_link.id
  description       = "HTTPS to the ALB"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

resource "aws_lb" "vpc_link" {
  #checkov:skip=CKV_AWS_91:NLB access logs exist only for TLS listeners; this one passes TCP through, and the ALB behind it logs every request.
  name                             = "${var.name}-api"
  load_balancer_type               = "network"
  internal                         = true
  subnets                          = local.subnet_list
  security_groups                  = [aws_security_group.vpc_link.id]
  enable_deletion_protection       = var.deletion_protection
  enable_cross_zone_load_balancing = true
  # API Gateway's PrivateLink traffic carries no security group to match on.
  enforce_security_group_inbound_rules_on_private_link_traffic = "off"

  tags = merge(var.tags, { Name = "${var.name}-api" })
}

resource "aws_lb_target_group" "alb" {
  name        = "${var.name}-api-alb"
  target_type = "alb"
  protocol    = "TCP"
  port        = 443
  vpc_id      = var.vpc_id

  health_check {
    enabled  = true
    protocol = "HTTPS"
    path     = "/"
    matcher  = "200-499"
  }

  tags = var.tags
}

resource "aws_lb_target_group_attachment" "alb" {
  target_group_arn = aws_lb_target_group.alb.arn
  target_id        = var.alb_arn
  port             = 443

  # An ALB can only be a target once it has a listener on the target port.
  depends_on = [terraform_data.alb_listener]
}

resource "terraform_data" "alb_listener" {
  input = var.alb_https_listener_arn
}

resource "aws_lb_listener" "vpc_link" {
  #checkov:skip=CKV_AWS_2:TCP pass-through: TLS is terminated by the ALB behind it, with its certificate and TLS policy.
  #checkov:skip=CKV_AWS_103:TCP pass-through: the ALB behind it enforces TLS 1.2+.
  load_balancer_arn = aws_lb.vpc_link.arn
  port              = 443
  protocol          = "TCP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.alb.arn
  }

  tags = var.tags
}

resource "aws_api_gateway_vpc_link" "this" {
  name        = var.name
  description = "API Gateway ${var.name} to the internal ALB"
  target_arns = [aws_lb.vpc_link.arn]

  tags = var.tags
}

################################################################################
# REST API from the OpenAPI document
################################################################################

resource "aws_api_gateway_rest_api" "this" {
  name              = var.name
  description       = "Colonnade REST API (${var.stage_name}), imported from the generated OpenAPI document"
  body              = local.body
  fail_on_warnings  = var.fail_on_warnings
  put_rest_api_mode = "overwrite"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = !local.lambda || length(local.not_http_proxy) == 0
      error_message = "lambda_invoke_arn replaces the document's http_proxy integrations with the function's; ${join(", ", local.not_http_proxy)} have another type, which the Lambda variant would silently send to the function."
    }
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "Document ${sha1(local.body)}"

  # A new deployment whenever the imported document changes; the stage moves
  # to it before the old one is deleted.
  triggers = {
    redeployment = sha1(local.body)
  }

  lifecycle {
    create_before_destroy = true
  }

  # The document names the authorizer by an invoke ARN built from its name (the REST API
  # cannot wait for the function: modules/authorizer says why). The deployment, which puts
  # that document live on the stage, does wait: for the invoke permission, and through its
  # function_name (the function's own attribute) for the function. Otherwise the first
  # apply can open the stage while every authorized method still answers 500.
  depends_on = [aws_lambda_permission.authorizer]
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/${var.name}/api-gateway/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV2_AWS_77:The stage's ACL has KnownBadInputs (Log4j); AnonymousIpList, which this check also wants, is in the CLOUDFRONT-scope ACL (edge-waf): behind CloudFront a regional ACL only sees CloudFront's addresses.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to public HTTP backends; this backend is reached only through the private VPC link.
  rest_api_id           = aws_api_gateway_rest_api.this.id
  deployment_id         = aws_api_gateway_deployment.this.id
  stage_name            = var.stage_name
  description           = "Colonnade ${var.stage_name}"
  xray_tracing_enabled  = true
  cache_cluster_enabled = local.cache
  cache_cluster_size    = var.cache_cluster_size

  variables = {
    vpcLinkId   = aws_api_gateway_vpc_link.this.id
    backendHost = var.backend_host
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      extendedRequestId  = "$context.extendedRequestId"
      ip                 = "$context.identity.sourceIp"
      caller             = "$context.identity.caller"
      apiKeyId           = "$context.identity.apiKeyId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      integrationStatus  = "$context.integration.status"
      integrationLatency = "$context.integration.latency"
      responseLatency    = "$context.responseLatency"
      xrayTraceId        = "$context.xrayTraceId"
      wafStatus          = "$context.waf.status"
    })
  }

  tags = var.tags

  lifecycle {
    # For an HTTPS private integration API Gateway verifies the backend's
    # certificate against the integration URI's host (set-up-api-with-vpclink-
    # using-swagger.html); the ALB's certificate can never cover the NLB's
    # *.elb.amazonaws.com name, so the host must be one the certificate names.
    precondition {
      condition     = length(local.uncovered_hosts) == 0
      error_message = "Integration hosts ${join(", ", local.uncovered_hosts)} are not covered by the ALB certificate's names (${join(", ", var.certificate_domain_names)}): every REST call would fail the TLS check."
    }
  }
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is enabled per GET method (aws_api_gateway_method_settings.cached), each keyed on all its parameters; on */* it would also cache POST, PATCH and DELETE answers.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    # Never on for every method: with */* enabled, POST, PATCH and DELETE
    # answers could be cached too. Only the GETs below, each keyed on all
    # its parameters, are cached.
    caching_enabled      = false
    cache_data_encrypted = true
  }
}

# Method paths escape the resource path's slashes as ~1 (UpdateStage patch
# paths, CloudFormation MethodSetting.ResourcePath).
resource "aws_api_gateway_method_settings" "cached" {
  for_each = local.cached_methods

  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "${replace(each.value.path, "/", "~1")}/GET"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = true
    cache_data_encrypted   = true
    cache_ttl_in_seconds   = each.value.ttl
    # Only an authorized caller may invalidate an entry (Cache-Control: max-age=0);
    # anyone else gets 403 rather than a silent flush.
    require_authorization_for_cache_control    = true
    unauthorized_cache_control_header_strategy = "FAIL_WITH_403"
  }

  depends_on = [aws_api_gateway_method_settings.all]
}

################################################################################
# Usage plans and API keys
################################################################################

resource "aws_api_gateway_usage_plan" "this" {
  for_each = var.usage_plans

  name        = "${var.name}-${each.key}"
  description = "Usage plan ${each.key} of ${var.name}"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name

    # Per-method throttles of this tier: each method counts in its contract's
    # rate-limit class; the tier's limits for that class apply to it.
    dynamic "throttle" {
      for_each = { for m in local.method_classes : m.path => each.value.class_limits[m.class] if contains(keys(each.value.class_limits), m.class) }
      content {
        path        = throttle.key
        rate_limit  = throttle.value.rate_limit
        burst_limit = throttle.value.burst_limit
      }
    }
  }

  throttle_settings {
    rate_limit  = each.value.rate_limit
    burst_limit = each.value.burst_limit
  }

  dynamic "quota_settings" {
    for_each = each.value.quota_limit != null ? [1] : []
    content {
      limit  = each.value.quota_limit
      period = each.value.quota_period
    }
  }

  tags = var.tags
}

# API Gateway may invoke the authorizer function (for this API's authorizers only).
resource "aws_lambda_permission" "authorizer" {
  count = local.use_authorizer && var.authorizer_function_name != null ? 1 : 0

  statement_id  = "${var.name}-authorizer"
  action        = "lambda:InvokeFunction"
  function_name = var.authorizer_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/authorizers/*"
}

check "authorizer_wired" {
  assert {
    condition     = !local.has_authorizer || local.use_authorizer
    error_message = "The document names the colonnade_jwt Lambda authorizer but authorizer_invoke_arn is unset: non-public methods reach the gateway without API Gateway checking their tokens (the gateway still verifies them)."
  }
}

resource "aws_api_gateway_api_key" "this" {
  for_each = local.api_keys

  name        = "${var.name}-${each.value.plan}-${each.value.key}"
  description = "API key ${each.value.key} of usage plan ${each.value.plan}"
  enabled     = true

  tags = var.tags
}

resource "aws_api_gateway_usage_plan_key" "this" {
  for_each = local.api_keys

  key_id        = aws_api_gateway_api_key.this[each.key].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[each.value.plan].id
}

################################################################################
# WAF
################################################################################

# A value only CloudFront knows, sent by it as the x-origin-verify header on
# every origin request; the web ACL blocks requests without it, so the stage
# is reached only through CloudFront, whose own (CLOUDFRONT-scope) web ACL
# sees the clients' addresses. API Gateway generates the value (an API key
# that is disabled and in no usage plan: a random string kept in state, as no
# random provider is available).
resource "aws_api_gateway_api_key" "origin_verify" {
  count = var.create_web_acl ? 1 : 0

  name        = "${var.name}-origin-verify"
  description = "Not an API key: the secret CloudFront sends as x-origin-verify"
  enabled     = false

  tags = var.tags
}

# Rules that read the request itself. Address-based rules (per-IP rate limit,
# IP reputation, anonymous IPs) belong to the CLOUDFRONT-scope web ACL
# (edge-waf module): behind CloudFront this ACL would only see CloudFront's
# addresses (waf-rule-statement-forwarded-ip-address.html), and a forwarded
# X-Forwarded-For is the client's to forge.
resource "aws_wafv2_web_acl" "this" {
  count = var.create_web_acl ? 1 : 0

  name        = var.name
  description = "Web ACL of the ${var.name} REST API"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "only-through-cloudfront"
    priority = 0

    action {
      block {}
    }

    statement {
      not_statement {
        statement {
          byte_match_statement {
            search_string         = aws_api_gateway_api_key.origin_verify[0].value
            positional_constraint = "EXACTLY"

            field_to_match {
              single_header {
                name = local.origin_verify_header
              }
            }

            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-only-through-cloudfront"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesCommonRuleSet"
    priority = 1

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesCommonRuleSet"
      sampled_requests_enabled   = true
    }
  }

  rule {
    name     = "AWSManagedRulesKnownBadInputsRuleSet"
    priority = 2

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesKnownBadInputsRuleSet"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = var.name
    sampled_requests_enabled   = true
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "waf" {
  count = var.create_web_acl ? 1 : 0

  # WAF only logs to groups whose name starts with aws-waf-logs-.
  name              = "aws-waf-logs-${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  count = var.create_web_acl ? 1 : 0

  resource_arn            = aws_wafv2_web_acl.this[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf[0].arn]

  redacted_fields {
    single_header {
      name = "authorization"
    }
  }

  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }

  redacted_fields {
    single_header {
      name = local.origin_verify_header
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.create_web_acl ? 1 : 0

  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this[0].arn
}
