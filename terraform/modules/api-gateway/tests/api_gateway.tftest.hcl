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
  name                     = "colonnade-test"
  openapi_body             = file("tests/fixtures/openapi.json")
  stage_name               = "test"
  vpc_id                   = "vpc-123"
  subnet_ids               = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  alb_arn                  = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/colonnade-test/abc"
  alb_https_listener_arn   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/colonnade-test/abc/def"
  backend_host             = "api.internal.example.com"
  certificate_domain_names = ["*.internal.example.com"]
  kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/abc"
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

  assert {
    condition     = length([for r in aws_wafv2_web_acl.this[0].rule : r if r.name == "only-through-cloudfront" && r.priority == 0]) == 1 && !aws_api_gateway_api_key.origin_verify[0].enabled
    error_message = "Requests without CloudFront's x-origin-verify header are blocked first; its value is a disabled API key, usable for nothing else."
  }

  assert {
    condition     = length([for r in aws_wafv2_web_acl.this[0].rule : r if length(r.statement[0].rate_based_statement) > 0]) == 0
    error_message = "No per-IP rule here: behind CloudFront this ACL only sees CloudFront's addresses (the edge-waf module carries it)."
  }
}

run "backend_host_must_be_covered_by_the_certificate" {
  command = plan

  variables {
    backend_host = "api.other.example.com"
  }

  expect_failures = [aws_api_gateway_stage.this]
}

run "a_wildcard_covers_one_label_only" {
  command = plan

  variables {
    backend_host = "a.api.internal.example.com"
  }

  expect_failures = [aws_api_gateway_stage.this]
}

run "the_load_balancer_name_is_refused" {
  command = plan

  variables {
    backend_host = "colonnade-test-api-0123456789abcdef.elb.eu-west-1.amazonaws.com"
  }

  expect_failures = [var.backend_host]
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
    condition     = !aws_api_gateway_method_settings.all.settings[0].caching_enabled
    error_message = "Caching is never switched on for every method (*/* would cache POST, PATCH and DELETE too)."
  }

  assert {
    condition     = alltrue([for k, m in aws_api_gateway_method_settings.cached : endswith(m.method_path, "/GET") && m.settings[0].caching_enabled && m.settings[0].cache_data_encrypted])
    error_message = "Caching is on for GET methods only, encrypted."
  }

  assert {
    condition     = length(aws_api_gateway_method_settings.cached) == length([for p, ops in jsondecode(file("tests/fixtures/openapi.json")).paths : p if contains(keys(ops), "get")])
    error_message = "Every GET of the document is cached."
  }

  assert {
    condition = alltrue(flatten([
      for p, ops in jsondecode(aws_api_gateway_rest_api.this.body).paths : [
        for m, op in ops : length(setsubtract(
          [for prm in try(op.parameters, []) : "method.request.${prm.in == "query" ? "querystring" : prm.in}.${prm.name}"],
          op["x-amazon-apigateway-integration"].cacheKeyParameters
        )) == 0 if m == "get"
      ]
    ]))
    error_message = "Every parameter of every cached GET is a cache key in the imported document."
  }

  assert {
    condition     = aws_api_gateway_deployment.this.triggers.redeployment == sha1(aws_api_gateway_rest_api.this.body)
    error_message = "The deployment follows the imported document, cache keys included."
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

# The committed document, generated from the contracts' edge policies.
run "contract_policies_from_the_document" {
  command = plan

  variables {
    openapi_body             = file("../../../openapi/colonnade.apigateway.json")
    cache_cluster_size       = "0.5"
    create_web_acl           = false
    authorizer_invoke_arn    = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-authorizer/invocations"
    authorizer_function_name = "colonnade-authorizer"
    usage_plans = {
      gold = {
        rate_limit = 100, burst_limit = 200, api_keys = ["g"]
        class_limits = {
          read  = { rate_limit = 50, burst_limit = 100 }
          write = { rate_limit = 10, burst_limit = 20 }
        }
      }
      free = { rate_limit = 5, burst_limit = 10, api_keys = ["f"] }
    }
  }

  assert {
    condition = toset([for k, m in aws_api_gateway_method_settings.cached : "${m.method_path}=${m.settings[0].cache_ttl_in_seconds}"]) == toset([
      "~1v1~1products/GET=30", "~1v1~1products~1{product}/GET=30", "~1v1~1orders/GET=5", "~1v1~1orders~1{order}/GET=5",
      "~1v2~1products/GET=30", "~1v2~1products~1{product}/GET=30",
    ])
    error_message = "Exactly the GETs whose policy declares a TTL are cached, each for its TTL."
  }

  assert {
    condition     = alltrue([for k, m in aws_api_gateway_method_settings.cached : m.settings[0].require_authorization_for_cache_control && m.settings[0].unauthorized_cache_control_header_strategy == "FAIL_WITH_403"])
    error_message = "Only authorized callers may invalidate cache entries."
  }

  assert {
    condition     = contains(jsondecode(aws_api_gateway_rest_api.this.body).paths["/v1/orders/{order}"].get["x-amazon-apigateway-integration"].cacheKeyParameters, "method.request.header.Authorization")
    error_message = "An answer that varies by caller is keyed on the caller's Authorization."
  }

  assert {
    condition     = jsondecode(aws_api_gateway_rest_api.this.body).components.securitySchemes.colonnade_jwt["x-amazon-apigateway-authorizer"].authorizerUri == var.authorizer_invoke_arn
    error_message = "The authorizer invokes the given function."
  }

  assert {
    condition     = !strcontains(aws_api_gateway_rest_api.this.body, "x-colonnade-policy")
    error_message = "The contract policies are read by the module, not imported."
  }

  assert {
    condition     = length(aws_lambda_permission.authorizer) == 1 && aws_lambda_permission.authorizer[0].principal == "apigateway.amazonaws.com" && aws_lambda_permission.authorizer[0].function_name == "colonnade-authorizer"
    error_message = "API Gateway may invoke the authorizer."
  }

  assert {
    condition     = jsondecode(aws_api_gateway_rest_api.this.body).components.securitySchemes.colonnade_jwt["x-amazon-apigateway-authorizer"].authorizerResultTtlInSeconds == 300 && jsondecode(aws_api_gateway_rest_api.this.body).components.securitySchemes.colonnade_jwt["x-amazon-apigateway-authorizer"].type == "request"
    error_message = "The document's REQUEST authorizer keeps its result TTL (one answer per token covers every method)."
  }

  assert {
    condition = toset(flatten([for s in aws_api_gateway_usage_plan.this["gold"].api_stages : [for t in s.throttle : "${t.path}=${t.rate_limit}"]])) == toset([
      "/v1/products/GET=50", "/v1/products/{product}/GET=50", "/v1/orders/GET=50", "/v1/orders/{order}/GET=50",
      "/v1/products/POST=10", "/v1/products/{product}/PATCH=10", "/v1/products/{product}/DELETE=10", "/v1/orders/POST=10",
      "/v2/products/GET=50", "/v2/products/{product}/GET=50",
      "/v2/products/POST=10", "/v2/products/{product}/PATCH=10", "/v2/products/{product}/DELETE=10",
    ])
    error_message = "Each tier throttles every method by its contract's rate-limit class."
  }

  assert {
    condition     = length(flatten([for s in aws_api_gateway_usage_plan.this["free"].api_stages : s.throttle])) == 0
    error_message = "A tier without class limits has only its plan-wide throttle."
  }
}

run "an_unwired_authorizer_is_dropped_from_the_document" {
  command = plan

  # A warning in a plan (check block); `terraform test` counts it, so it is expected here.
  expect_failures = [check.authorizer_wired]

  variables {
    openapi_body = file("../../../openapi/colonnade.apigateway.json")
  }

  assert {
    condition     = !contains(keys(jsondecode(aws_api_gateway_rest_api.this.body).components.securitySchemes), "colonnade_jwt")
    error_message = "Without its function the authorizer scheme is left out."
  }

  assert {
    condition     = alltrue(flatten([for p, ops in jsondecode(aws_api_gateway_rest_api.this.body).paths : [for m, op in ops : [for req in op.security : !contains(keys(req), "colonnade_jwt")]]]))
    error_message = "…and so is every requirement naming it."
  }
}

run "authorizer_result_ttl_beyond_an_hour_is_refused" {
  command = plan

  variables {
    openapi_body = jsonencode({
      openapi = "3.0.1"
      info    = { title = "t", version = "1" }
      paths   = {}
      components = { securitySchemes = { colonnade_jwt = {
        type                             = "apiKey", name = "Authorization", in = "header", "x-amazon-apigateway-authtype" = "custom"
        "x-amazon-apigateway-authorizer" = { type = "request", identitySource = "method.request.header.Authorization", authorizerUri = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:a/invocations", authorizerResultTtlInSeconds = 7200 }
      } } }
    })
  }

  expect_failures = [var.openapi_body]
}

# compute = "lambda": the same document, every operation a Lambda proxy integration of the alias.
run "lambda_variant_proxies_every_operation_to_the_alias" {
  command = plan

  variables {
    lambda_invoke_arn  = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test:live/invocations"
    cache_cluster_size = "0.5"
  }

  assert {
    condition = alltrue(flatten([
      for p, ops in jsondecode(aws_api_gateway_rest_api.this.body).paths : [
        for m, op in ops : op["x-amazon-apigateway-integration"].type == "aws_proxy" && op["x-amazon-apigateway-integration"].httpMethod == "POST" && op["x-amazon-apigateway-integration"].uri == var.lambda_invoke_arn
      ]
    ]))
    error_message = "Every operation invokes the live alias with an aws_proxy integration over POST."
  }

  assert {
    condition = alltrue(flatten([
      for p, ops in jsondecode(aws_api_gateway_rest_api.this.body).paths : [
        for m, op in ops : length(setintersection(keys(op["x-amazon-apigateway-integration"]), ["connectionType", "connectionId", "requestParameters", "responses"])) == 0 && op["x-amazon-apigateway-integration"].timeoutInMillis <= 29000
      ]
    ]))
    error_message = "No VPC link, parameter mappings or integration responses are left, and the timeout stays within 29 s."
  }

  assert {
    condition = alltrue(flatten([
      for p, ops in jsondecode(aws_api_gateway_rest_api.this.body).paths : [
        for m, op in ops : length([for prm in try(op.parameters, []) : prm if prm.in == "path" && !contains(op["x-amazon-apigateway-integration"].cacheKeyParameters, "method.request.path.${prm.name}")]) == 0
      ]
    ]))
    error_message = "Cached GETs keep their cache keys in the Lambda variant."
  }
}

run "lambda_variant_refuses_an_integration_it_does_not_know" {
  command = plan

  variables {
    lambda_invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test:live/invocations"
    openapi_body = jsonencode({
      openapi = "3.0.1"
      info    = { title = "t", version = "1" }
      paths = { "/v1/things" = { options = {
        responses                         = { "200" = { description = "ok" } }
        "x-amazon-apigateway-integration" = { type = "mock", requestTemplates = { "application/json" = "{\"statusCode\": 200}" } }
      } } }
    })
  }

  expect_failures = [aws_api_gateway_rest_api.this]
}

run "an_integration_timeout_beyond_29_s_is_refused" {
  command = plan

  variables {
    openapi_body = jsonencode({
      openapi = "3.0.1"
      info    = { title = "t", version = "1" }
      paths = { "/v1/things" = { get = {
        responses                         = { "200" = { description = "ok" } }
        "x-amazon-apigateway-integration" = { type = "http_proxy", httpMethod = "GET", uri = "https://api.internal.example.com/v1/things", timeoutInMillis = 30000 }
      } } }
    })
  }

  expect_failures = [var.openapi_body]
}

run "lambda_invoke_arn_must_be_an_invoke_arn" {
  command = plan

  variables {
    lambda_invoke_arn = "arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test:live"
  }

  expect_failures = [var.lambda_invoke_arn]
}
