# Unit tests of the authorizer module with a mocked AWS provider (no credentials, no network).

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
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/colonnade-test-authorizer" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/colonnade-test-authorizer" }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test-authorizer"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test-authorizer/invocations"
    }
  }
}

variables {
  name         = "colonnade-test-authorizer"
  package_path = "tests/fixtures/function.zip"
  environment = {
    AUTH_JWKS         = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc/.well-known/jwks.json"
    AUTH_ISSUER       = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc"
    AUTH_TOKEN_USE    = "access" # pragma: allowlist secret
    AUTH_CLIENT_IDS   = "client-a,client-b"
    AUTH_SCOPE_PREFIX = "https://api.colonnade.example/"
  }
  kms_key_arn     = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  alarm_topic_arn = "arn:aws:sns:eu-west-1:123456789012:colonnade-test-alarms"
}

# One apply (with mocked computed values) checks every default.
run "defaults" {
  command = apply

  assert {
    condition     = aws_lambda_function.this.handler == "colonnade.gateway.authorizer.handler" && aws_lambda_function.this.runtime == "python3.11" && aws_lambda_function.this.architectures == tolist(["x86_64"])
    error_message = "the gateway's authorizer handler on python3.11 x86_64 by default"
  }
  assert {
    condition     = aws_lambda_function.this.filename == "tests/fixtures/function.zip" && aws_lambda_function.this.source_code_hash == filebase64sha256("tests/fixtures/function.zip")
    error_message = "the package and its hash come from package_path"
  }
  assert {
    condition     = length(aws_lambda_function.this.vpc_config) == 0
    error_message = "the authorizer runs outside any VPC (it only needs the issuer's public JWKS)"
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables == var.environment
    error_message = "the environment is exactly the verifier's AUTH_* settings"
  }
  assert {
    condition     = aws_lambda_function.this.timeout == 6 && aws_lambda_function.this.memory_size == 512 && aws_lambda_function.this.reserved_concurrent_executions == 20
    error_message = "timeout 6 s (under API Gateway's 10 s), 512 MB, 20 reserved executions by default"
  }
  assert {
    condition     = output.invoke_arn == "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test-authorizer/invocations" && output.invoke_arn == aws_lambda_function.this.invoke_arn
    error_message = "the invoke ARN is built from the name and is the function's"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/colonnade-test-authorizer" && aws_cloudwatch_log_group.this.retention_in_days == 365 && aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn
    error_message = "its own log group, Lambda's default name, a year's retention, the customer-managed key"
  }
  assert {
    condition     = length(data.aws_iam_policy_document.this.statement) == 1 && data.aws_iam_policy_document.this.statement[0].actions == toset(["logs:CreateLogStream", "logs:PutLogEvents"]) && data.aws_iam_policy_document.this.statement[0].resources == toset(["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/colonnade-test-authorizer:*"])
    error_message = "the role may only write its own log group's streams (no CreateLogGroup, no VPC, no KMS, no X-Ray)"
  }
  assert {
    condition     = one(data.aws_iam_policy_document.assume.statement[0].principals).identifiers == toset(["lambda.amazonaws.com"]) && one(data.aws_iam_policy_document.assume.statement[0].condition).values == tolist(["123456789012"])
    error_message = "only Lambda in this account may assume the role"
  }
  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["duration", "errors", "throttles"] && alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset([var.alarm_topic_arn]) && a.dimensions.FunctionName == "colonnade-test-authorizer" && a.namespace == "AWS/Lambda"])
    error_message = "errors, throttles and duration alarms on the function notify the topic"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["throttles"].threshold == 1 && aws_cloudwatch_metric_alarm.this["errors"].threshold == 100 && aws_cloudwatch_metric_alarm.this["duration"].threshold == 5400
    error_message = "one throttle alarms; errors above the refused-token background; duration at 90% of the timeout"
  }
}

run "timeout_beyond_api_gateway_wait_is_refused" {
  command = plan

  variables {
    timeout = 11
  }

  expect_failures = [var.timeout]
}

run "missing_package_is_refused" {
  command = plan

  variables {
    package_path = "tests/fixtures/absent.zip"
  }

  expect_failures = [var.package_path]
}

run "only_auth_settings" {
  command = plan

  variables {
    environment = {
      AUTH_JWKS    = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc/.well-known/jwks.json"
      AUTH_ISSUER  = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc"
      DATABASE_URL = "postgresql://x@y/z"
    }
  }

  expect_failures = [var.environment]
}

run "jwks_must_be_https" {
  command = plan

  variables {
    environment = {
      AUTH_JWKS   = "http://issuer.example/jwks.json"
      AUTH_ISSUER = "http://issuer.example"
    }
  }

  expect_failures = [var.environment]
}

run "development_hs256_is_refused" {
  command = plan

  variables {
    environment = {
      AUTH_JWKS         = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc/.well-known/jwks.json"
      AUTH_ISSUER       = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc"
      AUTH_ALLOW_HS256  = "true"
      AUTH_HS256_SECRET = "not-in-aws" # pragma: allowlist secret
    }
  }

  expect_failures = [var.environment]
}

run "mismatched_invoke_arn_fails_the_postcondition" {
  command = plan

  # Mocked providers answer with the function's values at plan time: another function's ARN.
  variables {
    name = "colonnade-renamed-authorizer"
  }

  override_resource {
    target = aws_lambda_function.this
    values = {
      arn        = "arn:aws:lambda:eu-west-1:123456789012:function:other"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:other/invocations"
    }
  }

  expect_failures = [aws_lambda_function.this]
}
