data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  subnet_list  = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
  backend_host = coalesce(var.backend_host, aws_lb.vpc_link.dns_name)
  cache        = var.cache_cluster_size != null
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
  body              = var.openapi_body
  fail_on_warnings  = var.fail_on_warnings
  put_rest_api_mode = "overwrite"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "Document ${sha1(var.openapi_body)}"

  # A new deployment whenever the imported document changes; the stage moves
  # to it before the old one is deleted.
  triggers = {
    redeployment = sha1(var.openapi_body)
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/${var.name}/api-gateway/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = var.tags
}

resource "aws_api_gateway_stage" "this" {
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
    backendHost = local.backend_host
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

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = local.cache
    # Always on: a no-op without a cache, and nobody can forget it when one is sized.
    cache_data_encrypted = true
    cache_ttl_in_seconds = local.cache ? 60 : null
  }
}

################################################################################
# Account-level CloudWatch Logs role (execution logs)
################################################################################

resource "aws_iam_role" "cloudwatch" {
  count = var.manage_account_logging_role ? 1 : 0

  name_prefix = "apigw-cloudwatch-"
  description = "Lets API Gateway write execution logs in this account"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "apigateway.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = data.aws_caller_identity.current.account_id } }
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  count = var.manage_account_logging_role ? 1 : 0

  role       = aws_iam_role.cloudwatch[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_account_logging_role ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.cloudwatch]
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

resource "aws_wafv2_web_acl" "this" {
  count = var.create_web_acl ? 1 : 0

  name        = var.name
  description = "Web ACL of the ${var.name} REST API"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-limit-per-ip"
    priority = 0

    action {
      block {}
    }

    statement {
      rate_based_statement {
        limit              = var.web_acl_rate_limit
        aggregate_key_type = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-limit"
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

  rule {
    name     = "AWSManagedRulesAmazonIpReputationList"
    priority = 3

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesAmazonIpReputationList"
      sampled_requests_enabled   = true
    }
  }

  # Anonymising networks (Tor, VPNs) are blocked; hosting providers are only
  # counted, since partners legitimately call the API from cloud servers.
  rule {
    name     = "AWSManagedRulesAnonymousIpList"
    priority = 4

    override_action {
      none {}
    }

    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-AWSManagedRulesAnonymousIpList"
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
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.create_web_acl ? 1 : 0

  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this[0].arn
}
