output "arn" {
  description = "Load balancer ARN."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "Load balancer ARN suffix (CloudWatch dimension)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 hosted zone of the load balancer (alias records)."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "Security group of the load balancer (allow it on the targets)."
  value       = aws_security_group.this.id
}

output "https_listener_arn" {
  description = "HTTPS listener ARN."
  value       = aws_lb_listener.https.arn
}

# The target group outputs wait for the listener and rules that forward to
# them: ECS refuses CreateService for a target group that has no load
# balancer yet ("target group ... does not have an associated load
# balancer"), and a consumer of an output depends only on what the output
# references. hashicorp/terraform#32908.
output "http_target_group_arn" {
  description = "Target group of the REST gateway (available once the HTTPS listener forwards to it)."
  value       = aws_lb_target_group.http.arn

  depends_on = [aws_lb_listener.https]
}

output "http_target_group_arn_suffix" {
  description = "ARN suffix of the REST gateway's target group (CloudWatch dimension)."
  value       = aws_lb_target_group.http.arn_suffix
}

output "grpc_target_group_arns" {
  description = "gRPC target group ARNs keyed by service (available once the listener rules forward to them)."
  value       = { for k, tg in aws_lb_target_group.grpc : k => tg.arn }

  depends_on = [aws_lb_listener_rule.grpc]
}

output "grpc_target_group_arn_suffixes" {
  description = "gRPC target group ARN suffixes keyed by service (CloudWatch dimensions)."
  value       = { for k, tg in aws_lb_target_group.grpc : k => tg.arn_suffix }
}

output "target_group_arn_suffixes" {
  description = "Every target group's ARN suffix keyed by service (gateway plus the gRPC services)."
  value       = merge({ (var.http_target.name) = aws_lb_target_group.http.arn_suffix }, { for k, tg in aws_lb_target_group.grpc : k => tg.arn_suffix })
}
