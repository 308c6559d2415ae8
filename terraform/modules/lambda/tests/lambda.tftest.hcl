# Unit tests of the Lambda module's logic with a mocked AWS provider (no credentials, no network).

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
  mock_resource "aws_db_proxy" {
    defaults = {
      arn      = "arn:aws:rds:eu-west-1:123456789012:db-proxy:prx-0123456789abcdef0"
      endpoint = "colonnade-test-proxy.proxy-abc.eu-west-1.rds.amazonaws.com"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/colonnade-test" }
  }
  mock_resource "aws_db_proxy_default_target_group" {
    defaults = { name = "default" }
  }
  mock_resource "aws_security_group" {
    defaults = { id = "sg-0function" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/colonnade-test" }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn     = "arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test"
      version = "1"
    }
  }
  mock_resource "aws_lambda_alias" {
    defaults = {
      arn        = "arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test:live"
      invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:colonnade-test:live/invocations"
    }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/colonnade-test-maintenance" }
  }
}

variables {
  name                    = "colonnade-test"
  package_path            = "tests/fixtures/function.zip"
  vpc_id                  = "vpc-0123"
  subnet_ids              = ["subnet-a", "subnet-b", "subnet-c"]
  cache_security_group_id = "sg-0cache"
  database = {
    cluster_identifier = "colonnade-test"
    security_group_id  = "sg-0aurora"
    name               = "colonnade"
    users = {
      catalog = { db_user = "catalog", secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog-AbCdEf" }
      orders  = { db_user = "orders", secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf" }
    }
  }
  environment       = { COLONNADE_SERVICES = "catalog,orders", CACHE_URL = "cache.example:11211" }
  kms_key_arn       = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  api_execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123"
  alarm_topic_arn   = "arn:aws:sns:eu-west-1:123456789012:colonnade-test-alarms"
}

# One apply (with mocked computed values) checks every default; a run per topic cost ~10 s each.
run "defaults" {
  command = apply

  assert {
    condition     = aws_lambda_function.function.runtime == "python3.11" && aws_lambda_function.function.architectures == tolist(["x86_64"]) && aws_lambda_function.function.handler == "colonnade.serverless.handler"
    error_message = "python3.11 on x86_64 running colonnade.serverless.handler by default"
  }
  assert {
    condition     = aws_lambda_function.function.filename == "tests/fixtures/function.zip" && aws_lambda_function.function.source_code_hash == filebase64sha256("tests/fixtures/function.zip")
    error_message = "the package and its hash come from package_path"
  }
  assert {
    condition     = aws_lambda_function.function.publish && aws_lambda_alias.live.function_version == "1" && output.invoke_arn == aws_lambda_alias.live.invoke_arn && output.named_invoke_arn == output.invoke_arn
    error_message = "versions are published and the live alias (the invoke ARN) names the new one"
  }
  assert {
    condition     = aws_lambda_function.function.reserved_concurrent_executions == 20 && length(aws_lambda_provisioned_concurrency_config.live) == 0 && length(aws_lambda_function.function.snap_start) == 0
    error_message = "reserved concurrency 20, no provisioned concurrency, no SnapStart by default"
  }
  assert {
    condition     = aws_lambda_function.function.tracing_config[0].mode == "Active" && aws_lambda_function.function.kms_key_arn == var.kms_key_arn
    error_message = "active tracing and a customer-managed key for the environment"
  }
  assert {
    condition     = aws_lambda_function.function.vpc_config[0].subnet_ids == toset(["subnet-a", "subnet-b", "subnet-c"]) && aws_lambda_function.function.vpc_config[0].security_group_ids == toset([aws_security_group.function.id])
    error_message = "the function runs in the given subnets with its own security group"
  }
  assert {
    condition     = aws_lambda_function.function.environment[0].variables["CATALOG_DATABASE_URL"] == "postgresql://catalog@colonnade-test-proxy.proxy-abc.eu-west-1.rds.amazonaws.com:5432/colonnade?sslmode=verify-full&sslrootcert=/var/task/certs/amazon-root-cas.pem"
    error_message = "catalog's DATABASE_URL names the proxy, its user and verify-full TLS"
  }
  assert {
    condition     = aws_lambda_function.function.environment[0].variables["ORDERS_DATABASE_URL"] != null && aws_lambda_function.function.environment[0].variables["DB_IAM_AUTH"] == "true"
    error_message = "each service gets its URL, with IAM tokens"
  }
  assert {
    condition     = aws_lambda_function.function.environment[0].variables["DB_STATEMENT_CACHE_SIZE"] == "0" && aws_lambda_function.function.environment[0].variables["COLONNADE_SERVICES"] == "catalog,orders"
    error_message = "the statement cache is off and the caller's variables pass through"
  }
  assert {
    condition     = aws_db_proxy.this.engine_family == "POSTGRESQL" && aws_db_proxy.this.require_tls
    error_message = "a PostgreSQL proxy that requires TLS"
  }
  assert {
    condition     = length(aws_db_proxy.this.auth) == 2 && alltrue([for a in aws_db_proxy.this.auth : a.iam_auth == "REQUIRED" && a.auth_scheme == "SECRETS"])
    error_message = "every proxy user requires IAM authentication; the proxy logs in to Aurora with the user's secret"
  }
  assert {
    condition     = aws_db_proxy_target.this.db_cluster_identifier == "colonnade-test" && aws_db_proxy.this.vpc_security_group_ids == toset([aws_security_group.proxy.id])
    error_message = "the proxy targets the given cluster, behind its own security group"
  }
  assert {
    condition     = data.aws_iam_policy_document.proxy.statement[0].actions == toset(["secretsmanager:GetSecretValue"]) && data.aws_iam_policy_document.proxy.statement[0].resources == toset(["arn:aws:secretsmanager:eu-west-1:123456789012:secret:catalog-AbCdEf", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:orders-AbCdEf"])
    error_message = "the proxy's role reads only the users' secrets"
  }
  assert {
    condition     = length(data.aws_iam_policy_document.proxy.statement) == 1
    error_message = "no KMS statement without a customer-managed secret key"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.this["function_to_proxy"].referenced_security_group_id == aws_security_group.proxy.id && aws_vpc_security_group_egress_rule.this["function_to_proxy"].from_port == 5432
    error_message = "the function reaches the proxy on 5432"
  }
  assert {
    condition     = keys(aws_vpc_security_group_egress_rule.this) == ["function_to_cache", "function_to_proxy", "proxy_to_database"]
    error_message = "no egress but to the proxy, memcached and (from the proxy) Aurora"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.this["function_to_cache"].referenced_security_group_id == "sg-0cache" && aws_vpc_security_group_egress_rule.this["function_to_cache"].from_port == 11211 && aws_vpc_security_group_egress_rule.this["function_to_cache"].cidr_ipv4 == null
    error_message = "the function reaches memcached on 11211 and no CIDR"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.this["proxy_to_database"].referenced_security_group_id == "sg-0aurora" && aws_vpc_security_group_ingress_rule.proxy_from_function.referenced_security_group_id == aws_security_group.function.id
    error_message = "the proxy admits the function and reaches only the cluster"
  }
  assert {
    condition     = [for s in data.aws_iam_policy_document.this.statement : s.sid] == ["WriteItsOwnLogGroup", "CreateInterfacesInItsSubnetsWithItsGroup", "ManageItsInterfaces", "DescribeInterfacesAndSubnets", "ConnectThroughTheProxyAsItsUsers", "DecryptItsEnvironment", "PutTraces"]
    error_message = "exactly the statements the function needs"
  }
  assert {
    condition     = data.aws_iam_policy_document.this.statement[0].resources == toset(["arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/colonnade-test:*"]) && !contains(data.aws_iam_policy_document.this.statement[0].actions, "logs:CreateLogGroup")
    error_message = "logs only to its own log group, which the module creates"
  }
  assert {
    condition     = data.aws_iam_policy_document.this.statement[1].resources == toset(["arn:aws:ec2:eu-west-1:123456789012:network-interface/*", "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0function", "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-a", "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-b", "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-c"])
    error_message = "interfaces only in its subnets with its security group"
  }
  assert {
    condition     = data.aws_iam_policy_document.this.statement[3].actions == toset(["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"])
    error_message = "only the describe actions (no resource-level permissions) are on *"
  }
  assert {
    condition     = data.aws_iam_policy_document.this.statement[4].actions == toset(["rds-db:connect"]) && data.aws_iam_policy_document.this.statement[4].resources == toset(["arn:aws:rds-db:eu-west-1:123456789012:dbuser:prx-0123456789abcdef0/catalog", "arn:aws:rds-db:eu-west-1:123456789012:dbuser:prx-0123456789abcdef0/orders"])
    error_message = "rds-db:connect on the proxy's resource id, as each database user"
  }
  assert {
    condition     = aws_cloudwatch_log_group.this.name == "/aws/lambda/colonnade-test" && aws_cloudwatch_log_group.this.retention_in_days == 365 && aws_cloudwatch_log_group.this.kms_key_id == var.kms_key_arn
    error_message = "the function's log group, kept a year, encrypted"
  }
  assert {
    condition     = aws_lambda_permission.api[0].principal == "apigateway.amazonaws.com" && aws_lambda_permission.api[0].source_arn == "arn:aws:execute-api:eu-west-1:123456789012:abc123/*/*/*" && aws_lambda_permission.api[0].qualifier == "live"
    error_message = "only the given REST API may invoke the live alias"
  }
  assert {
    condition     = aws_cloudwatch_event_rule.maintenance[0].schedule_expression == "rate(1 minute)" && aws_cloudwatch_event_target.maintenance[0].arn == aws_lambda_alias.live.arn && aws_cloudwatch_event_target.maintenance[0].input == null
    error_message = "the schedule sends its own event (source aws.events, which the handler recognises) to the live alias"
  }
  assert {
    condition     = aws_lambda_permission.maintenance[0].principal == "events.amazonaws.com" && aws_lambda_permission.maintenance[0].source_arn == aws_cloudwatch_event_rule.maintenance[0].arn
    error_message = "only the maintenance rule may invoke through EventBridge"
  }
}

run "statement_cache_on_behind_the_proxy_is_refused" {
  command = plan

  variables {
    environment = { ORDERS_DB_STATEMENT_CACHE_SIZE = "100" }
  }

  expect_failures = [var.environment]
}

run "reserved_and_module_set_variables_are_refused" {
  command = plan

  variables {
    environment = { CATALOG_DATABASE_URL = "postgresql://elsewhere/db" }
  }

  expect_failures = [var.environment]
}

run "optional_parts_off" {
  command = plan

  variables {
    tracing              = false
    api_execution_arn    = null
    maintenance_schedule = null
  }

  assert {
    condition     = !contains([for s in data.aws_iam_policy_document.this.statement : s.sid], "PutTraces") && aws_lambda_function.function.tracing_config[0].mode == "PassThrough"
    error_message = "X-Ray permissions only with tracing"
  }
  assert {
    condition     = length(aws_lambda_permission.api) == 0 && length(aws_cloudwatch_event_rule.maintenance) == 0 && length(aws_lambda_permission.maintenance) == 0
    error_message = "no invoke permission or schedule when not asked for"
  }
}

run "api_execution_arn_with_a_stage_is_refused" {
  command = plan

  variables {
    api_execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/*"
  }

  expect_failures = [var.api_execution_arn]
}

run "alarms_cover_errors_throttles_duration_and_concurrency" {
  command = plan

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["concurrency", "duration_p99", "errors", "throttles"]
    error_message = "four alarms"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["duration_p99"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.this["duration_p99"].threshold == 23200
    error_message = "p99 duration alarms at 80% of the 29 s timeout"
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["concurrency"].metric_name == "ConcurrentExecutions" && aws_cloudwatch_metric_alarm.this["concurrency"].threshold == 16
    error_message = "concurrency alarms at 80% of the reserved 20"
  }
  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : a.alarm_actions == toset([var.alarm_topic_arn]) && a.namespace == "AWS/Lambda"])
    error_message = "every alarm notifies the topic"
  }
}

run "provisioned_concurrency_on_the_alias" {
  command = plan

  variables {
    provisioned_concurrency = 5
  }

  assert {
    condition     = aws_lambda_provisioned_concurrency_config.live[0].provisioned_concurrent_executions == 5 && aws_lambda_provisioned_concurrency_config.live[0].qualifier == "live"
    error_message = "provisioned concurrency on the live alias"
  }
}

run "snap_start_on_python312" {
  command = plan

  variables {
    runtime      = "python3.12"
    architecture = "arm64"
    snap_start   = true
  }

  assert {
    condition     = aws_lambda_function.function.snap_start[0].apply_on == "PublishedVersions" && aws_lambda_function.function.architectures == tolist(["arm64"])
    error_message = "SnapStart on published versions"
  }
}

run "snap_start_on_python311_is_refused" {
  command = plan

  variables {
    snap_start = true
  }

  expect_failures = [aws_lambda_function.function]
}

run "snap_start_with_provisioned_concurrency_is_refused" {
  command = plan

  variables {
    runtime                 = "python3.13"
    snap_start              = true
    provisioned_concurrency = 2
  }

  expect_failures = [aws_lambda_function.function]
}

run "provisioned_above_reserved_is_refused" {
  command = plan

  variables {
    reserved_concurrency    = 4
    provisioned_concurrency = 5
  }

  expect_failures = [aws_lambda_function.function]
}

run "unsupported_runtime_and_architecture_are_refused" {
  command = plan

  variables {
    runtime      = "python3.9"
    architecture = "arm"
  }

  expect_failures = [var.runtime, var.architecture]
}

run "one_subnet_is_refused" {
  command = plan

  variables {
    subnet_ids = ["subnet-a"]
  }

  expect_failures = [var.subnet_ids]
}

run "secrets_are_named_not_given_and_https_is_opt_in" {
  command = plan

  variables {
    secrets = {
      CATALOG_PAGE_TOKEN_KEYS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test/page-tokens/catalog-AbCdEf"
      ORDERS_PAGE_TOKEN_KEYS  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test/page-tokens/orders-AbCdEf"
    }
    https_egress = true
  }

  assert {
    condition     = aws_lambda_function.function.environment[0].variables["COLONNADE_LAMBDA_SECRETS"] == "CATALOG_PAGE_TOKEN_KEYS=arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test/page-tokens/catalog-AbCdEf,ORDERS_PAGE_TOKEN_KEYS=arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test/page-tokens/orders-AbCdEf" && !contains(keys(aws_lambda_function.function.environment[0].variables), "CATALOG_PAGE_TOKEN_KEYS")
    error_message = "the function is told where its secrets are, never their values"
  }
  assert {
    condition     = one([for s in data.aws_iam_policy_document.this.statement : s if s.sid == "ReadItsSecrets"]).resources == toset(values(var.secrets)) && one([for s in data.aws_iam_policy_document.this.statement : s if s.sid == "ReadItsSecrets"]).actions == toset(["secretsmanager:GetSecretValue"])
    error_message = "the role reads exactly its secrets"
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.https[0].from_port == 443 && aws_vpc_security_group_egress_rule.https[0].to_port == 443 && aws_vpc_security_group_egress_rule.https[0].security_group_id == aws_security_group.function.id
    error_message = "HTTPS out, and only 443, when asked for"
  }
}

run "a_secret_that_is_also_plain_is_refused" {
  command = plan

  variables {
    environment = { COLONNADE_SERVICES = "catalog,orders", PAGE_TOKEN_KEYS = "k" }
    secrets     = { PAGE_TOKEN_KEYS = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:k-AbCdEf" }
  }

  expect_failures = [var.secrets]
}

run "more_than_4_kb_of_environment_is_refused" {
  command = plan

  variables {
    environment = { COLONNADE_SERVICES = "catalog,orders", BIG = join("", [for i in range(1000) : "abcde"]) }
  }

  expect_failures = [aws_lambda_function.function]
}

run "a_permission_for_no_api_is_refused" {
  command = plan

  variables {
    api_execution_arn     = null
    create_api_permission = true
  }

  expect_failures = [aws_lambda_permission.api]
}
