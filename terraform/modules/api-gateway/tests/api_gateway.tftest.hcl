mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
}

variables {
  name                   = "colonnade-test"
  openapi_body           = file("tests/fixtures/openapi.json")
  stage_name             = "test"
  vpc_id                 = "vpc-123"
  subnet_ids             = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  alb_arn                = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/colonnade-test/abc"
  alb_https_listener_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/colonnade-test/abc/def"
  backend_host           = "api.internal.example.com"
  kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/abc"
  usage_plans = {
    partners = { rate_limit = 10, burst_limit = 20, quota_limit = 1000, api_keys = ["a", "b"] }
  }
}

run "imports_the_document_and_redeploys_on_change" {
  command = plan

  assert {
    condition     = aws_api_gateway_rest_api.this.body == file("tests/fixtures/openapi.json")
    error_message = "The REST API body is exactly the given document."
  }

  assert {
    condition     = aws_api_gateway_deployment.this.triggers.redeployment == sha1(file("tests/fixtures/openapi.json"))
    error_message = "The deployment is keyed on the document's digest."
  }

  assert {
    condition     = one(aws_api_gateway_rest_api.this.endpoint_configuration[0].types) == "REGIONAL"
    error_message = "Regional endpoint (CloudFront sits in front)."
  }
}

run "stage_logs_traces_and_throttles" {
  command = plan

  assert {
    condition     = aws_api_gateway_stage.this.xray_tracing_enabled
    error_message = "X-Ray tracing on."
  }

  assert {
    condition     = length(aws_api_gateway_stage.this.access_log_settings) == 1
    error_message = "Access logging on."
  }

  assert {
    condition     = toset(keys(aws_api_gateway_stage.this.variables)) == toset(["vpcLinkId", "backendHost"])
    error_message = "The stage sets exactly the variables the document's integrations use."
  }

  assert {
    condition     = aws_api_gateway_stage.this.variables.backendHost == "api.internal.example.com"
    error_message = "The backendHost stage variable is the ALB's certificate name."
  }

  assert {
    condition     = aws_api_gateway_method_settings.all.settings[0].throttling_rate_limit == 1000 && aws_api_gateway_method_settings.all.settings[0].metrics_enabled
    error_message = "Method throttling and metrics on every method."
  }

  assert {
    condition     = !aws_api_gateway_stage.this.cache_cluster_enabled && !aws_api_gateway_method_settings.all.settings[0].caching_enabled
    error_message = "No cache unless sized."
  }

  assert {
    condition     = aws_cloudwatch_log_group.access.kms_key_id == var.kms_key_arn
    error_message = "Access logs are KMS-encrypted."
  }
}

run "vpc_link_through_an_nlb_to_the_alb" {
  command = plan

  assert {
    condition     = aws_lb.vpc_link.load_balancer_type == "network" && aws_lb.vpc_link.internal
    error_message = "An internal NLB fronts the ALB for the REST API VPC link."
  }

  assert {
    condition     = aws_lb_target_group.alb.target_type == "alb" && aws_lb_target_group_attachment.alb.target_id == var.alb_arn
    error_message = "The NLB forwards to the ALB as an ALB-type target."
  }
}

run "usage_plans_keys_and_waf" {
  command = plan

  assert {
    condition     = length(aws_api_gateway_api_key.this) == 2 && length(aws_api_gateway_usage_plan_key.this) == 2
    error_message = "One API key per name, each attached to its plan."
  }

  assert {
    condition     = aws_api_gateway_usage_plan.this["partners"].quota_settings[0].limit == 1000
    error_message = "The quota applies."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this) == 1 && length(aws_wafv2_web_acl_association.this) == 1
    error_message = "A web ACL protects the stage by default."
  }

  assert {
    condition     = length([for r in aws_wafv2_web_acl.this[0].rule : r if r.name == "AWSManagedRulesKnownBadInputsRuleSet"]) == 1
    error_message = "The known-bad-inputs (Log4j) rule group is included."
  }
}

run "prod_cache" {
  command = plan

  variables {
    cache_cluster_size = "0.5"
    create_web_acl     = false
  }

  assert {
    condition     = aws_api_gateway_stage.this.cache_cluster_enabled && aws_api_gateway_method_settings.all.settings[0].cache_data_encrypted
    error_message = "The cache is on and encrypted."
  }

  assert {
    condition     = length(aws_wafv2_web_acl.this) == 0
    error_message = "WAF is optional."
  }
}

run "rejects_openapi_31_and_non_json" {
  command = plan

  variables {
    openapi_body = "{\"openapi\": \"3.1.0\", \"paths\": {}}"
  }

  expect_failures = [var.openapi_body]
}
