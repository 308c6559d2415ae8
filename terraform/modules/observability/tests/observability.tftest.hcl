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
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:colonnade-test-alarms" }
  }
  mock_resource "aws_cloudwatch_metric_alarm" {
    defaults = { arn = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:mocked" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name     = "colonnade-test"
  services = ["gateway", "catalog", "orders"]
  alb = {
    arn_suffix                = "app/colonnade-test/abc"
    target_group_arn_suffixes = { gateway = "targetgroup/gw/1", catalog = "targetgroup/cat/2", orders = "targetgroup/ord/3" }
  }
  api_gateway = { api_name = "colonnade-test", stage_name = "test" }
  aurora      = { cluster_id = "colonnade-test" }
  cache       = { cluster_id = "colonnade-test" }
}

run "every_alarm_and_encrypted_logs" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_log_group.service) == 3 && alltrue([for g in aws_cloudwatch_log_group.service : g.retention_in_days == 365])
    error_message = "One log group per service with the retention."
  }

  assert {
    condition     = length(output.alarm_names) == 10
    error_message = "5xx rate, p99, 3 unhealthy-target, API 5xx and p99, Aurora CPU and ACU, cache evictions."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.unhealthy_targets["catalog"].dimensions.TargetGroup == "targetgroup/cat/2"
    error_message = "Unhealthy-target alarms watch each target group."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.threshold["alb-p99-latency"].extended_statistic == "p99" && aws_cloudwatch_metric_alarm.threshold["api-p99-latency"].threshold == 1000
    error_message = "Latency is alarmed on p99."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.threshold["aurora-acu"].metric_name == "ACUUtilization" && aws_cloudwatch_metric_alarm.threshold["cache-evictions"].metric_name == "Evictions" && aws_cloudwatch_metric_alarm.threshold["cache-evictions"].dimensions.CacheClusterId == "colonnade-test"
    error_message = "Aurora capacity and cache evictions are watched."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.access_logs.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "AES256"
    error_message = "ALB access logs need SSE-S3."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.access_logs.block_public_policy && aws_s3_bucket_public_access_block.access_logs.restrict_public_buckets
    error_message = "The access log bucket is private."
  }
}

run "dashboard_lists_every_alarm" {
  # apply against the mock provider: the widget list holds the alarms' ARNs.
  command = apply

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 7
    error_message = "Dashboard: 3 ALB, 1 API, Aurora, cache and alarm widgets."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets[6].properties.alarms) == 10
    error_message = "The alarm widget shows every alarm."
  }
}

run "nothing_to_watch" {
  command = apply

  variables {
    alb         = null
    api_gateway = null
    aurora      = null
    cache       = null
  }

  assert {
    condition     = length(output.alarm_names) == 0
    error_message = "No alarms without targets."
  }

  assert {
    condition     = length(jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets) == 1
    error_message = "Only the alarm widget remains."
  }
}

# The services' own metrics (EMF): per-service error rate and p99, cache degraded, pool
# exhaustion, with the environment's thresholds. Every metric of the services' namespace that
# the dashboard and the alarms read must be one the services write:
# tests/terraform/test_observability.py runs this file with `emitted_metrics` replaced by the
# names found in real EMF lines; the list below only serves running this file alone.
run "application_alarms_and_dashboard" {
  command = apply

  variables {
    alb         = null
    api_gateway = null
    aurora      = null
    cache       = null
    application = {
      rpc_services      = ["catalog", "orders"]
      http_services     = ["gateway"]
      cache_services    = ["catalog"]
      database_services = ["catalog", "orders"]
    }
    emitted_metrics = [
      "rpc_server_requests", "rpc_server_errors", "rpc_server_duration_seconds",
      "http_requests", "http_errors", "http_request_duration_seconds",
      "cache_degraded", "db_pool_in_use", "db_pool_exhausted",
    ]
    thresholds = {
      service_error_rate_percent   = 2
      service_p99_seconds          = 0.25
      cache_degraded_minutes       = 3
      db_pool_exhausted_per_minute = 5
    }
  }

  assert {
    condition     = length(output.alarm_names) == 9
    error_message = "3 error-rate, 3 p99, 1 cache-degraded and 2 pool-exhausted alarms (and none of the AWS ones)."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.app_rate["catalog-error-rate"].threshold == 2
      && aws_cloudwatch_metric_alarm.app["orders-p99"].threshold == 0.25
      && aws_cloudwatch_metric_alarm.app["orders-p99"].extended_statistic == "p99"
      && aws_cloudwatch_metric_alarm.app["orders-p99"].metric_name == "rpc_server_duration_seconds"
      && aws_cloudwatch_metric_alarm.app["gateway-p99"].metric_name == "http_request_duration_seconds"
    )
    error_message = "Error rate and p99 use the environment's thresholds and the services' metric names."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.app["catalog-cache-degraded"].evaluation_periods == 3
      && aws_cloudwatch_metric_alarm.app["catalog-cache-degraded"].comparison_operator == "GreaterThanOrEqualToThreshold"
      && aws_cloudwatch_metric_alarm.app["catalog-db-pool-exhausted"].threshold == 5
      && aws_cloudwatch_metric_alarm.app["catalog-db-pool-exhausted"].namespace == "Colonnade"
      && aws_cloudwatch_metric_alarm.app["catalog-db-pool-exhausted"].dimensions.Service == "catalog"
    )
    error_message = "Cache degraded for N minutes, pool exhaustion per minute, by Service."
  }

  assert {
    condition     = length(jsondecode(output.dashboard_body).widgets) == 8
    error_message = "Two widgets per gRPC service and for the gateway, the data widget, the alarm widget."
  }

  assert {
    condition = length(toset(compact(concat(
      flatten([for w in jsondecode(output.dashboard_body).widgets : [for m in try(w.properties.metrics, []) :
        try(regex("MetricName=\"([a-z0-9_]+)\"", m[0].expression)[0], m[0] == "Colonnade" ? m[1] : null)
      ]]),
      [for a in aws_cloudwatch_metric_alarm.app : a.metric_name],
      flatten([for a in aws_cloudwatch_metric_alarm.app_rate : [for q in a.metric_query : [for m in q.metric : m.metric_name]]]),
    )))) >= 9
    error_message = "The dashboard and alarms read at least 9 of the services' metrics."
  }

  assert {
    condition = length(setsubtract(toset(compact(concat(
      flatten([for w in jsondecode(output.dashboard_body).widgets : [for m in try(w.properties.metrics, []) :
        try(regex("MetricName=\"([a-z0-9_]+)\"", m[0].expression)[0], m[0] == "Colonnade" ? m[1] : null)
      ]]),
      [for a in aws_cloudwatch_metric_alarm.app : a.metric_name],
      flatten([for a in aws_cloudwatch_metric_alarm.app_rate : [for q in a.metric_query : [for m in q.metric : m.metric_name]]]),
    ))), toset(var.emitted_metrics))) == 0
    error_message = "The dashboard or an alarm reads a metric the services never write (emitted: ${join(", ", var.emitted_metrics)})."
  }
}

run "rejects_invalid_retention" {
  command = plan

  variables {
    log_retention_days = 42
  }

  expect_failures = [var.log_retention_days]
}
