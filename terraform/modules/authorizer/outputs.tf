output "function_name" {
  description = "Name of the function (depends on the function: what the API's invoke permission names)."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "Invoke ARN for the API document's `authorizerUri`, built from the name so that it is known before the function exists (a postcondition checks the function's own)."
  value       = local.invoke_arn
}

output "role_arn" {
  description = "Execution role of the function (its own log group only)."
  value       = aws_iam_role.this.arn
}

output "log_group_name" {
  description = "The function's log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "alarm_names" {
  description = "The function's alarms (errors, throttles, duration near the timeout)."
  value       = sort([for a in aws_cloudwatch_metric_alarm.this : a.alarm_name])
}

output "environment" {
  description = "The function's environment: the verifier's AUTH_* settings as given."
  value       = aws_lambda_function.this.environment[0].variables
}
