output "state_bucket" {
  description = "State bucket of every root (backend.hcl's bucket)."
  value       = module.state.bucket
}

output "state_kms_key_arn" {
  description = "KMS key of the state bucket."
  value       = module.state.kms_key_arn
}

output "image_repository_name" {
  description = "The image's repository (environments' image_repository.name)."
  value       = var.image_repository_name
}

output "image_repository_url" {
  description = "URL of the image's repository (push releases here)."
  value       = module.ecr.repository_urls[var.image_repository_name]
}

output "dr_region" {
  description = "The disaster-recovery Region."
  value       = var.dr_region
}

output "dr_backup_vault_arn" {
  description = "ARN of the DR backup vault (prod's backup_copy names it)."
  value       = module.dr_backup.vault_arn
}

output "api_gateway_cloudwatch_role_arn" {
  description = "API Gateway's CloudWatch Logs role of the account."
  value       = aws_iam_role.api_gateway_cloudwatch.arn
}

output "service_quotas" {
  description = "Quotas the account's environments need together."
  value       = var.service_quotas
}
