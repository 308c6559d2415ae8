output "vault_arn" {
  description = "ARN of the backup vault (pass it as copy_destination_vault_arn to a module instance in another region)."
  value       = aws_backup_vault.this.arn
}

output "vault_name" {
  description = "Name of the backup vault."
  value       = aws_backup_vault.this.name
}

output "plan_id" {
  description = "ID of the backup plan (null when resource_arns is empty)."
  value       = local.create_plan ? aws_backup_plan.this[0].id : null
}

output "rules" {
  description = "Backup rules and their retention in days, keyed by rule name."
  value       = { for k, r in local.rules : k => r.retention_days }
}

output "kms_key_arn" {
  description = "KMS key that encrypts the vault."
  value       = local.kms_key_arn
}
