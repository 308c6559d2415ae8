data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id
  ec2_arn   = "arn:${local.partition}:ec2:${local.region}:${local.account}"

  alias_name = "live"
  # The alias's invoke ARN from the names alone (output named_invoke_arn): a caller whose
  # integration feeds back into the function's configuration can use it without a cycle; the
  # alias's postcondition keeps it equal to the real one.
  named_invoke_arn = "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/arn:${local.partition}:lambda:${local.region}:${local.account}:function:${var.name}:${local.alias_name}/invocations"
  # arn:aws:rds:<region>:<account>:db-proxy:prx-…; rds-db:connect names the proxy's resource id.
  proxy_resource_id = element(split(":", aws_db_proxy.this.arn), 6)

  database_url = {
    for svc, u in var.database.users : svc => "postgresql://${u.db_user}@${aws_db_proxy.this.endpoint}:${var.database.port}/${var.database.name}?sslmode=verify-full&sslrootcert=${var.database.sslrootcert}"
  }
  environment = merge(
    {
      DB_IAM_AUTH = "true"
      # Named prepared statements pin RDS Proxy sessions (BUILD.md, serverless section).
      DB_STATEMENT_CACHE_SIZE = "0"
      # One request at a time per execution environment.
      DB_POOL_MAX = "2"
    },
    var.environment,
    { for svc, url in local.database_url : "${upper(svc)}_DATABASE_URL" => url },
    # Read from Secrets Manager at cold start (colonnade.serverless.function): the values are in
    # neither the function's configuration nor Terraform's state, as ECS `secrets` keep them
    # out of a task definition.
    length(var.secrets) > 0 ? { COLONNADE_LAMBDA_SECRETS = join(",", [for k in sort(keys(var.secrets)) : "${k}=${var.secrets[k]}"]) } : {},
  )
}

################################################################################
# Network: the function reaches the proxy and memcached, nothing else
################################################################################

resource "aws_security_group" "function" {
  name        = "${var.name}-function"
  description = "Lambda ${var.name}: egress to its RDS Proxy and memcached only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-function" })
}

resource "aws_security_group" "proxy" {
  #checkov:skip=CKV2_AWS_5:Attached to aws_db_proxy.this (vpc_security_group_ids), a resource checkov's attachment graph does not list.
  name        = "${var.name}-proxy"
  description = "RDS Proxy ${var.name}: from the function, to the Aurora cluster"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${var.name}-proxy" })
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_function" {
  security_group_id            = aws_security_group.proxy.id
  description                  = "PostgreSQL from the function"
  ip_protocol                  = "tcp"
  from_port                    = var.database.port
  to_port                      = var.database.port
  referenced_security_group_id = aws_security_group.function.id
}

locals {
  # Every egress rule of both groups: the function to the proxy and memcached, the proxy to
  # Aurora. Nothing else leaves either group (no CIDR rules).
  egress = {
    function_to_proxy = { group = aws_security_group.function.id, to = aws_security_group.proxy.id, port = var.database.port, description = "PostgreSQL through RDS Proxy" }
    function_to_cache = { group = aws_security_group.function.id, to = var.cache_security_group_id, port = var.cache_port, description = "memcached" }
    proxy_to_database = { group = aws_security_group.proxy.id, to = var.database.security_group_id, port = var.database.port, description = "PostgreSQL to the Aurora cluster" }
  }
}

# HTTPS out (through the NAT gateways or the interface endpoints): the token issuer's keys and
# token endpoint (Cognito has no interface endpoint for them) and Secrets Manager at cold start.
resource "aws_vpc_security_group_egress_rule" "https" {
  count = var.https_egress ? 1 : 0

  security_group_id = aws_security_group.function.id
  description       = "HTTPS to the token issuer and AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = local.egress

  security_group_id            = each.value.group
  description                  = each.value.description
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.to
}

################################################################################
# RDS Proxy: IAM authentication and TLS required from clients
################################################################################

data "aws_iam_policy_document" "proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "proxy" {
  name               = "${var.name}-proxy"
  assume_role_policy = data.aws_iam_policy_document.proxy_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "proxy" {
  statement {
    sid       = "ReadTheDatabaseUsersSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = sort(distinct([for u in values(var.database.users) : u.secret_arn]))
  }

  dynamic "statement" {
    for_each = var.database.secret_kms_key_arn != null ? [var.database.secret_kms_key_arn] : []
    content {
      sid       = "DecryptTheSecretsThroughSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "proxy" {
  name   = "read-database-secrets"
  role   = aws_iam_role.proxy.id
  policy = data.aws_iam_policy_document.proxy.json
}

resource "aws_db_proxy" "this" {
  name                   = "${var.name}-proxy"
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.proxy.arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.proxy.id]
  require_tls            = true
  idle_client_timeout    = 1800
  debug_logging          = false

  dynamic "auth" {
    for_each = var.database.users
    content {
      description               = "${auth.key}: IAM token from the function, password from the secret to Aurora"
      auth_scheme               = "SECRETS"
      iam_auth                  = "REQUIRED"
      client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
      secret_arn                = auth.value.secret_arn
      username                  = auth.value.db_user
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.proxy]
}

resource "aws_db_proxy_default_target_group" "this" {
  db_proxy_name = aws_db_proxy.this.name

  connection_pool_config {
    # Leave room for the migration task and an operator's session.
    max_connections_percent      = 90
    max_idle_connections_percent = 50
    connection_borrow_timeout    = 10
  }
}

resource "aws_db_proxy_target" "this" {
  db_proxy_name         = aws_db_proxy.this.name
  target_group_name     = aws_db_proxy_default_target_group.this.name
  db_cluster_identifier = var.database.cluster_identifier
}

################################################################################
# Execution role: AWSLambdaVPCAccessExecutionRole's actions, scoped
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.name
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "WriteItsOwnLogGroup"
    # The log group is created here: no logs:CreateLogGroup.
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid     = "CreateInterfacesInItsSubnetsWithItsGroup"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      ["${local.ec2_arn}:network-interface/*", "${local.ec2_arn}:security-group/${aws_security_group.function.id}"],
      [for s in var.subnet_ids : "${local.ec2_arn}:subnet/${s}"],
    )
  }

  statement {
    sid = "ManageItsInterfaces"
    # Lambda docs (configuration-vpc): DeleteNetworkInterface needs a unique resource id or all
    # of them in the account and Region; the interface ids are not known in advance.
    actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["${local.ec2_arn}:network-interface/*"]
  }

  statement {
    sid = "DescribeInterfacesAndSubnets"
    # Describe actions have no resource-level permissions: they work only on "*".
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }

  statement {
    sid     = "ConnectThroughTheProxyAsItsUsers"
    actions = ["rds-db:connect"]
    resources = sort([
      for u in values(var.database.users) : "arn:${local.partition}:rds-db:${local.region}:${local.account}:dbuser:${local.proxy_resource_id}/${u.db_user}"
    ])
  }

  dynamic "statement" {
    for_each = length(var.secrets) > 0 ? [1] : []
    content {
      sid       = "ReadItsSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = sort(distinct(values(var.secrets)))
    }
  }

  statement {
    sid       = "DecryptItsEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = var.tracing ? [1] : []
    content {
      sid = "PutTraces"
      # X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions.
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "vpc-logs-database"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# The function, one for the gateway, catalog and orders (BUILD.md: why one)
################################################################################

# Not "this": checkov's plan enrichment finds a resource's source (and its skips) by type and
# name alone, and would read the authorizer module's aws_lambda_function.this for it.
resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:API Gateway invokes synchronously (the client gets the error); the schedule's event is replaced a minute later, so a dead-letter queue would only collect stale ticks.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles, which the zip built by `make lambda` (hash-pinned, offline) does not go through yet.
  function_name = var.name
  description   = "Colonnade REST gateway with catalog and orders in process"
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout
  kms_key_arn   = var.kms_key_arn

  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)
  # Always published: the live alias is the one stable target of API Gateway and the schedule,
  # and provisioned concurrency and SnapStart both need a version.
  publish = true

  reserved_concurrent_executions = var.reserved_concurrency

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.function.id]
  }

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing ? "Active" : "PassThrough"
  }

  dynamic "snap_start" {
    for_each = var.snap_start ? [1] : []
    content {
      apply_on = "PublishedVersions"
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = !var.snap_start || contains(["python3.12", "python3.13"], var.runtime)
      error_message = "snap_start needs runtime python3.12 or later (Lambda SnapStart supports Python 3.12+)."
    }
    precondition {
      condition     = !(var.snap_start && var.provisioned_concurrency > 0)
      error_message = "snap_start and provisioned_concurrency are exclusive: Lambda SnapStart does not support provisioned concurrency."
    }
    precondition {
      condition     = var.provisioned_concurrency <= var.reserved_concurrency
      error_message = "provisioned_concurrency cannot exceed reserved_concurrency."
    }
    # Lambda's quota: 4 KB for all of a function's environment variables together (names and
    # values). Checked at apply too, when the endpoints' names are known.
    precondition {
      condition     = length(join("", [for k, v in local.environment : "${k}${v}"])) <= 4096
      error_message = "The function's environment variables take ${length(join("", [for k, v in local.environment : "${k}${v}"]))} bytes: Lambda allows 4 KB for all of them."
    }
  }

  # The role must be able to create the interfaces and write logs before the function exists.
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}

resource "aws_lambda_alias" "live" {
  name             = local.alias_name
  description      = "The published version API Gateway and the schedule invoke"
  function_name    = aws_lambda_function.function.function_name
  function_version = aws_lambda_function.function.version

  lifecycle {
    postcondition {
      condition     = self.invoke_arn == local.named_invoke_arn
      error_message = "The live alias's invoke ARN is ${self.invoke_arn}, not ${local.named_invoke_arn} (output named_invoke_arn): an API built on the latter would fail every call."
    }
  }
}

resource "aws_lambda_provisioned_concurrency_config" "live" {
  count = var.provisioned_concurrency > 0 ? 1 : 0

  function_name                     = aws_lambda_function.function.function_name
  qualifier                         = aws_lambda_alias.live.name
  provisioned_concurrent_executions = var.provisioned_concurrency
}

resource "aws_lambda_permission" "api" {
  # Known at plan time even when the API is created in the same apply (create_api_permission).
  count = (var.create_api_permission != null ? var.create_api_permission : var.api_execution_arn != null) ? 1 : 0

  statement_id  = "AllowRestApiInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function.function_name
  qualifier     = aws_lambda_alias.live.name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${var.api_execution_arn}/*/*/*"

  lifecycle {
    precondition {
      condition     = var.api_execution_arn != null
      error_message = "create_api_permission is true but api_execution_arn is null: which API may invoke the function?"
    }
  }
}

################################################################################
# Maintenance schedule: an EventBridge rule's event ("source": "aws.events")
################################################################################

resource "aws_cloudwatch_event_rule" "maintenance" {
  count = var.maintenance_schedule != null ? 1 : 0

  name                = "${var.name}-maintenance"
  description         = "Catalog reservation expiry sweep and orders recovery (colonnade.serverless maintenance)"
  schedule_expression = var.maintenance_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "maintenance" {
  count = var.maintenance_schedule != null ? 1 : 0

  rule = aws_cloudwatch_event_rule.maintenance[0].name
  arn  = aws_lambda_alias.live.arn
  # No input: the handler recognises the scheduled event itself by its "source".

  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 60
  }
}

resource "aws_lambda_permission" "maintenance" {
  count = var.maintenance_schedule != null ? 1 : 0

  statement_id  = "AllowMaintenanceSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function.function_name
  qualifier     = aws_lambda_alias.live.name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.maintenance[0].arn
}

################################################################################
# Alarms
################################################################################

locals {
  alarms = {
    errors = {
      metric    = "Errors"
      statistic = "Sum"
      threshold = var.alarm_errors_threshold
      what      = "invocations failed (exception or timeout)"
    }
    throttles = {
      metric    = "Throttles"
      statistic = "Sum"
      threshold = 1
      what      = "invocations were throttled (reserved concurrency reached)"
    }
    duration_p99 = {
      metric    = "Duration"
      statistic = "p99"
      threshold = floor(var.timeout * 1000 * 0.8)
      what      = "p99 duration is above 80% of the timeout"
    }
    concurrency = {
      metric    = "ConcurrentExecutions"
      statistic = "Maximum"
      threshold = max(1, floor(var.reserved_concurrency * 0.8))
      what      = "concurrent executions are at 80% of the reserved concurrency"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = "Lambda ${var.name}: ${each.value.what}"
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.function.function_name }
  statistic           = each.value.statistic == "p99" ? null : each.value.statistic
  extended_statistic  = each.value.statistic == "p99" ? "p99" : null
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
