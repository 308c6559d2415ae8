# The REST API's Lambda REQUEST authorizer (colonnade.gateway.authorizer.handler): a small
# function outside any VPC whose only right is to write its own log group. See README.md.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # Built from the name, not read from the function: the API document needs the invoke ARN,
  # and the function's environment needs the user pool's client ids, among them the web
  # client's, whose callback URL is CloudFront's, whose origin is the API. Reading the ARN
  # from the function would close that loop. A postcondition checks the two agree.
  function_arn = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${var.name}"
  invoke_arn   = "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/${local.function_arn}/invocations"
}

################################################################################
# Logs and the execution role: its own log group, nothing else
################################################################################

resource "aws_cloudwatch_log_group" "this" {
  # Lambda's default group name: the function needs no logging_config (and no right to
  # create it: it exists before the function).
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
  description        = "Lambda authorizer ${var.name}: writes its own log group, nothing else"
  assume_role_policy = data.aws_iam_policy_document.assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid = "WriteItsOwnLogGroup"
    # The log group is created here: no logs:CreateLogGroup. Nothing else: the JWKS is
    # public, the environment holds no secret, and there is no VPC to join.
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "write-own-logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

################################################################################
# The function
################################################################################

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:Outside any VPC on purpose: it only fetches the issuer's public JWKS over HTTPS; in a VPC it would need a NAT path and ec2 interface rights for nothing it keeps private.
  #checkov:skip=CKV_AWS_116:API Gateway invokes it synchronously and answers the caller itself (401/500); a dead-letter queue would only collect refused tokens.
  #checkov:skip=CKV_AWS_173:The environment holds no secret (JWKS URL, issuer, client ids, scope prefix); a customer-managed key would need kms:Decrypt on a role that has only its log rights.
  #checkov:skip=CKV_AWS_50:No X-Ray rights on the role (least privilege); API Gateway's own trace times the authorizer call.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles, which the zip built by `make lambda` (hash-pinned, offline) does not go through yet.
  function_name = var.name
  description   = "Colonnade REST API Lambda authorizer: verifies bearer tokens, answers with the contract policies"
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = [var.architecture]
  memory_size   = var.memory_size
  timeout       = var.timeout

  filename         = var.package_path
  source_code_hash = filebase64sha256(var.package_path)

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = var.environment
  }

  tags = var.tags

  lifecycle {
    postcondition {
      condition     = self.invoke_arn == local.invoke_arn
      error_message = "The function's invoke ARN (${self.invoke_arn}) is not the one built from its name (${local.invoke_arn}) that the API document names."
    }
  }

  # The role must be able to write logs, and the group exist, before the first invocation.
  depends_on = [aws_iam_role_policy.this, aws_cloudwatch_log_group.this]
}

################################################################################
# Alarms: API Gateway answers 500 for a throttled, failed or timed-out authorizer
################################################################################

locals {
  alarms = {
    errors = {
      metric    = "Errors"
      statistic = "Sum"
      threshold = var.alarm_errors_threshold
      what      = "errors above the usual refused tokens (JWKS unreachable, a crash, or a flood of bad tokens)"
    }
    throttles = {
      metric    = "Throttles"
      statistic = "Sum"
      threshold = 1
      what      = "invocations were throttled (reserved concurrency reached): callers got 500"
    }
    duration = {
      metric    = "Duration"
      statistic = "Maximum"
      threshold = floor(var.timeout * 1000 * 0.9)
      what      = "an invocation ran to 90% of the timeout (timeouts are 500s to callers)"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "Lambda authorizer ${var.name}: ${each.value.what}"
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.this.function_name }
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [var.alarm_topic_arn]
  ok_actions          = [var.alarm_topic_arn]
  tags                = var.tags
}
