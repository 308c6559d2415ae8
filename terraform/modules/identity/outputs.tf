output "issuer" {
  description = "The `iss` of every token (AUTH_ISSUER)."
  value       = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "jwks_url" {
  description = "The pool's signing keys (AUTH_JWKS)."
  value       = "https://cognito-idp.${local.region}.amazonaws.com/${aws_cognito_user_pool.this.id}/.well-known/jwks.json"
}

output "token_endpoint" {
  description = "The OAuth 2.0 token endpoint of the pool's domain (SERVICE_TOKEN_URL; the SPA's code exchange)."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${local.region}.amazoncognito.com/oauth2/token"
}

output "authorize_endpoint" {
  description = "The OAuth 2.0 authorization endpoint (the SPA's sign-in redirect)."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${local.region}.amazoncognito.com/oauth2/authorize"
}

output "scope_prefix" {
  description = "What Cognito puts before each scope in a token: the resource server identifier and `/` (AUTH_SCOPE_PREFIX)."
  value       = "${aws_cognito_resource_server.this.identifier}/"
}

output "scopes" {
  description = "The resource server's scopes, unprefixed."
  value       = sort(keys(var.scopes))
}

output "user_pool_id" {
  description = "User pool ID."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "User pool ARN."
  value       = aws_cognito_user_pool.this.arn
}

output "service_client_ids" {
  description = "App client ID per calling service (SERVICE_CLIENT_ID; the `sub` of its tokens)."
  value       = { for k, c in aws_cognito_user_pool_client.service : k => c.id }
}

output "service_client_secret_arns" {
  description = "Secrets Manager ARN of each calling service's client secret (SERVICE_CLIENT_SECRET, from the container's `secrets`)."
  value       = { for k, s in aws_secretsmanager_secret_version.client : k => s.arn }
}

output "web_client_id" {
  description = "The web UI's public app client ID."
  value       = aws_cognito_user_pool_client.web.id
}

output "client_ids" {
  description = "Every app client ID of the pool (AUTH_CLIENT_IDS: tokens from any other client are refused)."
  value       = concat([for k in sort(keys(var.service_clients)) : aws_cognito_user_pool_client.service[k].id], [aws_cognito_user_pool_client.web.id])
}

output "api_key_store_secret_arn" {
  description = "Secrets Manager ARN of the gateway's API key store (COLONNADE_GATEWAY_API_KEYS)."
  value       = aws_secretsmanager_secret_version.api_keys.arn
}
