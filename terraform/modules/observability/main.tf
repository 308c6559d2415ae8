data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_elb_service_account" "current" {}

locals {
  region      = data.aws_region.current.name
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn
  t           = var.thresholds

  tg_keys = var.alb == null ? [] : sort(keys(var.alb.target_group_arn_suffixes))
}

################################################################################
# KMS key for logs and the alarm topic
################################################################################

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description         = "${var.name} service logs and alarm notifications"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/${var.name}/*",
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${var.name}*",
              # Lambda's default group of the environment's functions (the API authorizer).
              "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda/${var.name}-*",
            ]
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
        }
      },
    ]
  })

  tags = var.tags
}

################################################################################
# Log groups
################################################################################

resource "aws_cloudwatch_log_group" "service" {
  for_each = var.services

  name              = "/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn

  tags = merge(var.tags, { Service = each.key })
}

################################################################################
# Access log bucket (ALB and CloudFront)
################################################################################

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access log bucket itself; logging it into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are not replicated cross-region: they are diagnostic, not business data.
  #checkov:skip=CKV_AWS_145:ALB access logs only support SSE-S3 (AES256), not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:No consumer of object-created events for access logs.
  bucket_prefix = "${substr(var.name, 0, 30)}-logs-"
  force_destroy = var.force_destroy_access_logs

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# CloudFront standard logging writes through bucket ACLs, so ACLs stay enabled
# (owner preferred); every object still belongs to this account.
resource "aws_s3_bucket_ownership_controls" "access_logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging delivers through bucket ACLs (awslogsdelivery); public ACLs stay blocked by the public access block.
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_log_expiry_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.access_logs.arn,
      "${aws_s3_bucket.access_logs.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Regions launched before August 2022 deliver ALB logs as the regional ELB
  # account; newer ones as the log delivery service. Allow both.
  statement {
    sid       = "ElbLogDeliveryLegacy"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }

  statement {
    sid       = "ElbLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }
  statement {
    sid       = "S3ServerAccessLogDelivery"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = data.aws_iam_policy_document.access_logs.json

  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

################################################################################
# Alarm topic
################################################################################

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_subscription" "email" {
  for_each = var.alarm_emails

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.key
}

################################################################################
# Alarms
################################################################################

resource "aws_cloudwatch_metric_alarm" "alb_5xx_rate" {
  count = var.alb != null ? 1 : 0

  alarm_name          = "${var.name}-alb-5xx-rate"
  alarm_description   = "More than ${local.t.error_rate_percent}% of ALB requests answered 5xx (targets or the ALB itself) for 3 of 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.t.error_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests, 0)"
    label       = "5xx rate (%)"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = { LoadBalancer = var.alb.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "target5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "elb5xx"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb.arn_suffix }
      period      = 60
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_targets" {
  for_each = toset(local.tg_keys)

  alarm_name          = "${var.name}-${each.key}-unhealthy-targets"
  alarm_description   = "At least one ${each.key} target failed its load balancer health check for 3 minutes."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = { LoadBalancer = var.alb.arn_suffix, TargetGroup = var.alb.target_group_arn_suffixes[each.key] }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

# Single-metric threshold alarms, keyed by a name whose presence is known at plan time.
locals {
  threshold_alarms = merge(
    var.alb == null ? {} : {
      alb-p99-latency = {
        description = "p99 target response time above ${local.t.p99_latency_seconds}s for 3 of 5 minutes."
        namespace   = "AWS/ApplicationELB", metric = "TargetResponseTime", statistic = null, extended = "p99"
        dimensions  = { LoadBalancer = var.alb.arn_suffix }
        period      = 60, evaluation_periods = 5, datapoints = 3, threshold = local.t.p99_latency_seconds
      }
    },
    var.api_gateway == null ? {} : {
      api-5xx-rate = {
        # 5XXError's Average is the fraction of requests that failed.
        description = "More than ${local.t.error_rate_percent}% of API Gateway requests answered 5xx for 3 of 5 minutes."
        namespace   = "AWS/ApiGateway", metric = "5XXError", statistic = "Average", extended = null
        dimensions  = { ApiName = var.api_gateway.api_name, Stage = var.api_gateway.stage_name }
        period      = 60, evaluation_periods = 5, datapoints = 3, threshold = local.t.error_rate_percent / 100
      }
      api-p99-latency = {
        description = "API Gateway p99 latency above ${local.t.p99_latency_seconds}s for 3 of 5 minutes."
        namespace   = "AWS/ApiGateway", metric = "Latency", statistic = null, extended = "p99"
        dimensions  = { ApiName = var.api_gateway.api_name, Stage = var.api_gateway.stage_name }
        period      = 60, evaluation_periods = 5, datapoints = 3, threshold = local.t.p99_latency_seconds * 1000
      }
    },
    var.aurora == null ? {} : {
      aurora-cpu = {
        description = "Aurora CPU above ${local.t.aurora_cpu_percent}% for 10 minutes."
        namespace   = "AWS/RDS", metric = "CPUUtilization", statistic = "Average", extended = null
        dimensions  = { DBClusterIdentifier = var.aurora.cluster_id }
        period      = 300, evaluation_periods = 2, datapoints = 2, threshold = local.t.aurora_cpu_percent
      }
      aurora-acu = {
        description = "Aurora Serverless v2 capacity above ${local.t.aurora_acu_percent}% of its maximum ACUs for 15 minutes: raise max_capacity."
        namespace   = "AWS/RDS", metric = "ACUUtilization", statistic = "Average", extended = null
        dimensions  = { DBClusterIdentifier = var.aurora.cluster_id }
        period      = 300, evaluation_periods = 3, datapoints = 3, threshold = local.t.aurora_acu_percent
      }
    },
    var.cache == null ? {} : {
      cache-evictions = {
        description = "Memcached evicting more than ${local.t.cache_evictions_per5m} items per 5 minutes: the cache is too small."
        namespace   = "AWS/ElastiCache", metric = "Evictions", statistic = "Sum", extended = null
        dimensions  = { CacheClusterId = var.cache.cluster_id }
        period      = 300, evaluation_periods = 3, datapoints = 3, threshold = local.t.cache_evictions_per5m
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "threshold" {
  for_each = local.threshold_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

################################################################################
# The services' own metrics (EMF lines in their logs: colonnade.runtime.emf)
################################################################################

locals {
  app   = var.application
  ns    = local.app == null ? "Colonnade" : local.app.namespace
  rpcs  = local.app == null ? [] : sort(local.app.rpc_services)
  https = local.app == null ? [] : sort(local.app.http_services)

  # Error rate and p99 per service (the Service-only dimension set every EMF line also
  # carries); per method and route they are on the dashboard (SEARCH over Method/Route).
  app_rate_alarms = merge(
    { for s in local.rpcs : "${s}-error-rate" => { service = s, requests = "rpc_server_requests", errors = "rpc_server_errors", what = "gRPC calls" } },
    { for s in local.https : "${s}-error-rate" => { service = s, requests = "http_requests", errors = "http_errors", what = "HTTP requests" } },
  )
  app_alarms = merge(
    { for s in local.rpcs : "${s}-p99" => {
      description        = "${s}: p99 gRPC call latency above ${local.t.service_p99_seconds}s for 3 of 5 minutes."
      metric             = "rpc_server_duration_seconds", statistic = null, extended = "p99", service = s
      evaluation_periods = 5, datapoints = 3, threshold = local.t.service_p99_seconds, comparison = "GreaterThanThreshold"
    } },
    { for s in local.https : "${s}-p99" => {
      description        = "${s}: p99 request latency above ${local.t.service_p99_seconds}s for 3 of 5 minutes."
      metric             = "http_request_duration_seconds", statistic = null, extended = "p99", service = s
      evaluation_periods = 5, datapoints = 3, threshold = local.t.service_p99_seconds, comparison = "GreaterThanThreshold"
    } },
    { for s in(local.app == null ? [] : sort(local.app.cache_services)) : "${s}-cache-degraded" => {
      description        = "${s}: a memcached node has been unreachable for ${local.t.cache_degraded_minutes} minutes (its keys are read from Aurora)."
      metric             = "cache_degraded", statistic = "Maximum", extended = null, service = s
      evaluation_periods = local.t.cache_degraded_minutes, datapoints = local.t.cache_degraded_minutes, threshold = 1, comparison = "GreaterThanOrEqualToThreshold"
    } },
    { for s in(local.app == null ? [] : sort(local.app.database_services)) : "${s}-db-pool-exhausted" => {
      description        = "${s}: more than ${local.t.db_pool_exhausted_per_minute} requests a minute found the database pool exhausted, for 3 of 5 minutes: raise DB_POOL_MAX or the task count."
      metric             = "db_pool_exhausted", statistic = "Sum", extended = null, service = s
      evaluation_periods = 5, datapoints = 3, threshold = local.t.db_pool_exhausted_per_minute, comparison = "GreaterThanThreshold"
    } },
  )
}

resource "aws_cloudwatch_metric_alarm" "app_rate" {
  for_each = local.app_rate_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "${each.value.service}: more than ${local.t.service_error_rate_percent}% of ${each.value.what} failed on the server's side for 3 of 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = local.t.service_error_rate_percent
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)"
    label       = "server error rate (%)"
    return_data = true
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = local.ns
      metric_name = each.value.requests
      dimensions  = { Service = each.value.service }
      period      = 60
      stat        = "Sum"
    }
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = local.ns
      metric_name = each.value.errors
      dimensions  = { Service = each.value.service }
      period      = 60
      stat        = "Sum"
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "app" {
  for_each = local.app_alarms

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = local.ns
  metric_name         = each.value.metric
  dimensions          = { Service = each.value.service }
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended
  period              = 60
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.datapoints
  comparison_operator = each.value.comparison
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  tags = var.tags
}

locals {
  # SEARCH finds every Method (Route) the services reported, so no method list is kept here.
  app_widgets = concat(
    flatten([for s in local.rpcs : [
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "${s}: calls and server errors by method"
          region = local.region
          period = 60
          metrics = [
            [{ expression = "SEARCH('{${local.ns},Service,Method} Service=\"${s}\" MetricName=\"rpc_server_requests\"', 'Sum', 60)", id = "calls", label = "" }],
            [{ expression = "SEARCH('{${local.ns},Service,Method} Service=\"${s}\" MetricName=\"rpc_server_errors\"', 'Sum', 60)", id = "errors", label = "errors" }],
          ]
        }
      },
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "${s}: p99 latency by method (s)"
          region = local.region
          period = 60
          metrics = [
            [{ expression = "SEARCH('{${local.ns},Service,Method} Service=\"${s}\" MetricName=\"rpc_server_duration_seconds\"', 'p99', 60)", id = "p99", label = "" }],
          ]
        }
      },
    ]]),
    flatten([for s in local.https : [
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "${s}: requests and 5xx by route"
          region = local.region
          period = 60
          metrics = [
            [{ expression = "SEARCH('{${local.ns},Service,Route} Service=\"${s}\" MetricName=\"http_requests\"', 'Sum', 60)", id = "requests", label = "" }],
            [{ expression = "SEARCH('{${local.ns},Service,Route} Service=\"${s}\" MetricName=\"http_errors\"', 'Sum', 60)", id = "errors", label = "5xx" }],
          ]
        }
      },
      {
        type = "metric", width = 12, height = 6
        properties = {
          title  = "${s}: p99 latency by route (s)"
          region = local.region
          period = 60
          metrics = [
            [{ expression = "SEARCH('{${local.ns},Service,Route} Service=\"${s}\" MetricName=\"http_request_duration_seconds\"', 'p99', 60)", id = "p99", label = "" }],
          ]
        }
      },
    ]]),
    local.app == null ? [] : [{
      type = "metric", width = 24, height = 6
      properties = {
        title  = "Cache degraded, database pool in use and exhausted"
        region = local.region
        period = 60
        metrics = concat(
          [for s in sort(local.app.cache_services) : [local.ns, "cache_degraded", "Service", s, { stat = "Maximum", label = "${s} cache degraded" }]],
          [for s in sort(local.app.database_services) : [local.ns, "db_pool_in_use", "Service", s, { stat = "Maximum", label = "${s} pool in use" }]],
          [for s in sort(local.app.database_services) : [local.ns, "db_pool_exhausted", "Service", s, { stat = "Sum", label = "${s} pool exhausted", yAxis = "right" }]],
        )
      }
    }],
  )
}

################################################################################
# Dashboard
################################################################################

locals {
  alb_widgets = flatten([for alb in(var.alb == null ? [] : [var.alb]) : [
    {
      type = "metric", width = 12, height = 6
      properties = {
        title  = "ALB requests and 5xx"
        region = local.region
        stat   = "Sum"
        period = 60
        metrics = [
          ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", alb.arn_suffix],
          [".", "HTTPCode_Target_5XX_Count", ".", "."],
          [".", "HTTPCode_ELB_5XX_Count", ".", "."],
        ]
      }
    },
    {
      type = "metric", width = 12, height = 6
      properties = {
        title   = "ALB target response time p99"
        region  = local.region
        stat    = "p99"
        period  = 60
        metrics = [["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", alb.arn_suffix]]
      }
    },
    {
      type = "metric", width = 24, height = 6
      properties = {
        title   = "Healthy targets per service"
        region  = local.region
        stat    = "Minimum"
        period  = 60
        metrics = [for k in local.tg_keys : ["AWS/ApplicationELB", "HealthyHostCount", "LoadBalancer", alb.arn_suffix, "TargetGroup", alb.target_group_arn_suffixes[k], { label = k }]]
      }
    },
  ]])
  api_widgets = [for api in(var.api_gateway == null ? [] : [var.api_gateway]) : {
    type = "metric", width = 12, height = 6
    properties = {
      title  = "API Gateway requests, 5xx and latency p99"
      region = local.region
      period = 60
      metrics = [
        ["AWS/ApiGateway", "Count", "ApiName", api.api_name, "Stage", api.stage_name, { stat = "Sum" }],
        [".", "5XXError", ".", ".", ".", ".", { stat = "Sum" }],
        [".", "Latency", ".", ".", ".", ".", { stat = "p99", yAxis = "right" }],
      ]
    }
  }]
  data_widgets = concat(
    [for id in(var.aurora == null ? [] : [var.aurora.cluster_id]) : {
      type = "metric", width = 12, height = 6
      properties = {
        title  = "Aurora CPU and capacity"
        region = local.region
        stat   = "Average"
        period = 300
        metrics = [
          ["AWS/RDS", "CPUUtilization", "DBClusterIdentifier", id],
          [".", "ACUUtilization", ".", "."],
          [".", "ServerlessDatabaseCapacity", ".", ".", { yAxis = "right" }],
        ]
      }
    }],
    [for id in(var.cache == null ? [] : [var.cache.cluster_id]) : {
      type = "metric", width = 12, height = 6
      properties = {
        title  = "Memcached hits, misses and evictions"
        region = local.region
        stat   = "Sum"
        period = 300
        metrics = [
          ["AWS/ElastiCache", "GetHits", "CacheClusterId", id],
          [".", "GetMisses", ".", "."],
          [".", "Evictions", ".", "."],
        ]
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = concat(local.alb_widgets, local.api_widgets, local.data_widgets, local.app_widgets, [{
      type   = "alarm"
      width  = 24
      height = 4
      properties = {
        title = "Alarms"
        alarms = concat(
          aws_cloudwatch_metric_alarm.alb_5xx_rate[*].arn,
          [for k in local.tg_keys : aws_cloudwatch_metric_alarm.unhealthy_targets[k].arn],
          [for k in sort(keys(local.threshold_alarms)) : aws_cloudwatch_metric_alarm.threshold[k].arn],
          [for k in sort(keys(local.app_rate_alarms)) : aws_cloudwatch_metric_alarm.app_rate[k].arn],
          [for k in sort(keys(local.app_alarms)) : aws_cloudwatch_metric_alarm.app[k].arn],
        )
      }
    }])
  })
}
