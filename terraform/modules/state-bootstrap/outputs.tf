output "bucket" {
  description = "State bucket name (the `bucket` of every environment's backend)."
  value       = aws_s3_bucket.state.id
}

output "bucket_arn" {
  description = "State bucket ARN (for the deploy role's policy)."
  value       = aws_s3_bucket.state.arn
}

output "kms_key_arn" {
  description = "KMS key of the state (the backend's `kms_key_id`; deployers need encrypt/decrypt on it)."
  value       = aws_kms_key.state.arn
}

output "lock_table" {
  description = "DynamoDB lock table name (null unless create_lock_table)."
  value       = var.create_lock_table ? aws_dynamodb_table.lock[0].name : null
}
