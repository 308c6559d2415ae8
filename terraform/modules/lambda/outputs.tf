output "function_name" {
  description = "Name of the function."
  value       = aws_lambda_function.function.function_name
}

output "function_arn" {
  description = "Unqualified ARN of the function."
  value       = aws_lambda_function.function.arn
}

output "alias_arn" {
  description = "ARN of the live alias (the published version API Gateway and the schedule invoke)."
  value       = aws_lambda_alias.live.arn
}

output "invoke_arn" {
  description = "Invoke ARN of the live alias, the `uri` of an `aws_proxy` integration."
  value       = aws_lambda_alias.live.invoke_arn
}

output "named_invoke_arn" {
  description = "The same invoke ARN built from the names only (known before the function exists; the alias's postcondition checks it): for an API whose integration would otherwise close a dependency loop with the function's configuration."
  value       = local.named_invoke_arn
}

output "security_group_id" {
  description = "Security group of the function (admit it in the memcached cluster's group)."
  value       = aws_security_group.function.id
}

output "role_arn" {
  description = "Execution role of the function."
  value       = aws_iam_role.this.arn
}

output "proxy_endpoint" {
  description = "RDS Proxy endpoint the function's DATABASE_URLs name."
  value       = aws_db_proxy.this.endpoint
}

output "proxy_arn" {
  description = "ARN of the RDS Proxy."
  value       = aws_db_proxy.this.arn
}

output "proxy_security_group_id" {
  description = "Security group of the RDS Proxy (admit it in the Aurora cluster's group)."
  value       = aws_security_group.proxy.id
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}
