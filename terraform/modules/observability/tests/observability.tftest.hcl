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

run "rejects_invalid_retention" {
  command = plan

  variables {
    log_retention_days = 42
  }

  expect_failures = [var.log_retention_days]
}
