output "repository_urls" {
  description = "Repository URL (without tag or digest) keyed by repository name."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}

output "repository_arns" {
  description = "Repository ARN keyed by repository name (for pull permissions)."
  value       = { for k, r in aws_ecr_repository.this : k => r.arn }
}

output "kms_key_arn" {
  description = "KMS key that encrypts the images (execution roles need kms:Decrypt on it)."
  value       = local.kms_key_arn
}
