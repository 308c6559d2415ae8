output "cluster_id" {
  description = "Cluster identifier."
  value       = aws_rds_cluster.this.id
}

output "cluster_arn" {
  description = "Cluster ARN (what the backup module protects)."
  value       = aws_rds_cluster.this.arn
}

output "cluster_resource_id" {
  description = "Cluster resource ID, used in `rds-db:connect` IAM policies for IAM database authentication."
  value       = aws_rds_cluster.this.cluster_resource_id
}

output "endpoint" {
  description = "Writer endpoint."
  value       = aws_rds_cluster.this.endpoint
}

output "reader_endpoint" {
  description = "Load-balanced reader endpoint."
  value       = aws_rds_cluster.this.reader_endpoint
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_rds_cluster.this.port
}

output "database_name" {
  description = "Name of the initial database."
  value       = aws_rds_cluster.this.database_name
}

output "master_username" {
  description = "Master user name."
  value       = aws_rds_cluster.this.master_username
}

output "master_user_secret_arn" {
  description = "ARN of the Secrets Manager secret that RDS manages for the master password."
  value       = aws_rds_cluster.this.master_user_secret[0].secret_arn
}

output "security_group_id" {
  description = "Security group of the cluster."
  value       = aws_security_group.this.id
}

output "kms_key_arn" {
  description = "KMS key that encrypts the cluster."
  value       = local.kms_key_arn
}

output "instance_availability_zones" {
  description = "AZ of each instance, keyed by instance number."
  value       = { for k, i in aws_rds_cluster_instance.this : k => i.availability_zone }
}

output "engine_version_actual" {
  description = "Engine version AWS is actually running (the minor that auto-upgrades)."
  value       = aws_rds_cluster.this.engine_version_actual
}
