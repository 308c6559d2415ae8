output "cluster_name" {
  description = "EKS cluster name."
  value       = aws_eks_cluster.this.name
}

output "cluster_arn" {
  description = "EKS cluster ARN."
  value       = aws_eks_cluster.this.arn
}

output "cluster_endpoint" {
  description = "Kubernetes API endpoint."
  value       = aws_eks_cluster.this.endpoint
}

output "cluster_certificate_authority" {
  description = "Base64 CA certificate of the API endpoint."
  value       = aws_eks_cluster.this.certificate_authority[0].data
}

output "cluster_security_group_id" {
  description = "Security group EKS created for the control plane, the Auto Mode nodes and their pods (allow it on Aurora and the cache)."
  value       = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
}

output "node_role_arn" {
  description = "IAM role of the Auto Mode nodes."
  value       = aws_iam_role.node.arn
}

output "pod_role_arns" {
  description = "Pod identity IAM role ARNs keyed by service (the manifests' ServiceAccounts need no annotation with pod identity)."
  value       = { for k, r in aws_iam_role.service : k => r.arn }
}

output "kms_key_arn" {
  description = "KMS key of the Kubernetes secrets."
  value       = aws_kms_key.this.arn
}
