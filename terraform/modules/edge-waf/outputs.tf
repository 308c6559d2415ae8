output "web_acl_arn" {
  description = "ARN of the CLOUDFRONT-scope web ACL (the distribution's `web_acl_id`)."
  value       = aws_wafv2_web_acl.this.arn
}

output "log_group_name" {
  description = "CloudWatch Logs group of the web ACL (in us-east-1)."
  value       = aws_cloudwatch_log_group.this.name
}
