output "rest_api_id" {
  description = "REST API ID."
  value       = aws_api_gateway_rest_api.this.id
}

output "rest_api_name" {
  description = "REST API name (CloudWatch `ApiName` dimension)."
  value       = aws_api_gateway_rest_api.this.name
}

output "stage_name" {
  description = "Stage name."
  value       = aws_api_gateway_stage.this.stage_name
}

output "invoke_url" {
  description = "Invoke URL of the stage (`https://<id>.execute-api.<region>.amazonaws.com/<stage>`)."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "execute_api_domain" {
  description = "Host name of the API (CloudFront origin domain)."
  value       = "${aws_api_gateway_rest_api.this.id}.execute-api.${data.aws_region.current.name}.amazonaws.com"
}

output "vpc_link_id" {
  description = "VPC link ID (the `vpcLinkId` stage variable)."
  value       = aws_api_gateway_vpc_link.this.id
}

output "vpc_link_security_group_id" {
  description = "Security group of the VPC link's NLB (allow it on the ALB's port 443)."
  value       = aws_security_group.vpc_link.id
}

output "nlb_dns_name" {
  description = "DNS name of the VPC link's network load balancer."
  value       = aws_lb.vpc_link.dns_name
}

output "deployment_id" {
  description = "Current deployment (changes whenever the document changes)."
  value       = aws_api_gateway_deployment.this.id
}

output "api_key_ids" {
  description = "API key IDs keyed by `<plan>/<key>` (read the values with `aws apigateway get-api-key --include-value`)."
  value       = { for k, key in aws_api_gateway_api_key.this : k => key.id }
}

output "web_acl_arn" {
  description = "ARN of the web ACL attached to the stage (null when create_web_acl is false)."
  value       = var.create_web_acl ? aws_wafv2_web_acl.this[0].arn : null
}

output "origin_verify_header_name" {
  description = "Header CloudFront must send to the API origin (null when the web ACL does not require it)."
  value       = var.create_web_acl ? local.origin_verify_header : null
}

output "origin_verify_header_value" {
  description = "Value of that header (null when not required)."
  value       = var.create_web_acl ? aws_api_gateway_api_key.origin_verify[0].value : null
  sensitive   = true
}

output "api_key_values" {
  description = "Values of the usage plans' API keys keyed by `<plan>/<key>` (for the web plan's key, which CloudFront adds to the SPA's calls)."
  value       = { for k, key in aws_api_gateway_api_key.this : k => key.value }
  sensitive   = true
}

output "cached_methods" {
  description = "Methods the stage cache serves, keyed `<path> GET`, with the cache key parameters of each (empty without a cache)."
  value       = { for k, m in local.cached_methods : k => m.cache_keys }
}

output "document" {
  description = "The document imported as the REST API's body (the given one, with cache keys when the stage has a cache)."
  value       = local.body
}

output "execution_arn" {
  description = "Execution ARN of the REST API (arn:aws:execute-api:<region>:<account>:<api-id>), the source of Lambda invoke permissions."
  value       = aws_api_gateway_rest_api.this.execution_arn
}
