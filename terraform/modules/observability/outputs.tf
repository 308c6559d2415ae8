output "log_group_names" {
  description = "Service log group names keyed by service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}

output "log_group_arns" {
  description = "Service log group ARNs keyed by service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.arn }
}

output "alarm_topic_arn" {
  description = "SNS topic that receives every alarm."
  value       = aws_sns_topic.alarms.arn
}

# Both bucket outputs are read from the resources that make the bucket usable
# as a log destination, so whatever enables logging waits for them: the ALB
# checks the bucket policy when access logs are enabled ("Access Denied for
# bucket"), and CloudFront standard logging needs ACLs enabled on the bucket
# (object ownership other than BucketOwnerEnforced), CloudFront
# DeveloperGuide/AccessLogs.html ("Permissions required to configure standard
# logging").
output "access_logs_bucket" {
  description = "Name of the access log bucket (ALB and S3 server access logs), known once its bucket policy is in place."
  value       = aws_s3_bucket_policy.access_logs.bucket
}

output "access_logs_bucket_domain_name" {
  description = "Domain name of the access log bucket (CloudFront logging_config), known once the bucket policy and the ACL-enabling ownership controls are in place."
  value       = aws_s3_bucket.access_logs.bucket_domain_name

  depends_on = [aws_s3_bucket_policy.access_logs, aws_s3_bucket_ownership_controls.access_logs]
}

output "kms_key_arn" {
  description = "KMS key of the log groups and the alarm topic."
  value       = local.kms_key_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard name."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm the module created."
  value = concat(
    aws_cloudwatch_metric_alarm.alb_5xx_rate[*].alarm_name,
    [for k in local.tg_keys : aws_cloudwatch_metric_alarm.unhealthy_targets[k].alarm_name],
    [for k in sort(keys(local.threshold_alarms)) : aws_cloudwatch_metric_alarm.threshold[k].alarm_name],
    [for k in sort(keys(local.app_rate_alarms)) : aws_cloudwatch_metric_alarm.app_rate[k].alarm_name],
    [for k in sort(keys(local.app_alarms)) : aws_cloudwatch_metric_alarm.app[k].alarm_name],
  )
}

output "dashboard_body" {
  description = "The dashboard's JSON (what the tests cross-check against the metrics the code writes)."
  value       = aws_cloudwatch_dashboard.this.dashboard_body
}
