# The environment's token issuer: an Amazon Cognito user pool. Its tokens are
# what the gateway and every service verify (colonnade.runtime.auth):
#   issuer  https://cognito-idp.<region>.amazonaws.com/<pool id>
#   JWKS    <issuer>/.well-known/jwks.json
#   token   https://<domain>.auth.<region>.amazoncognito.com/oauth2/token
# One resource server holds exactly the contracts' scopes; each calling
# service is an app client with the client credentials grant and only the
# scopes it needs; the web UI is a public client (authorization code + PKCE).

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  region     = data.aws_region.current.name
  identifier = coalesce(var.resource_server_identifier, var.name)
  # Hosted domains are global: the account id keeps the prefix unique. Cognito
  # refuses prefixes containing "aws", "amazon" or "cognito".
  domain = "${var.name}-${data.aws_caller_identity.current.account_id}"
  # Each scope as tokens carry it; built from the resource server, so clients wait for it.
  scope_ids = { for s in keys(var.scopes) : s => "${aws_cognito_resource_server.this.identifier}/${s}" }
  unknown = distinct([
    for s in concat(flatten([for c in values(var.service_clients) : c.scopes]), var.web_client.scopes) : s
    if !contains(keys(var.scopes), s)
  ])
}

resource "aws_cognito_user_pool" "this" {
  name                = var.name
  deletion_protection = var.deletion_protection ? "ACTIVE" : "INACTIVE"

  # Users are invited (the shop's staff), not self-registered; sign-in by email.
  admin_create_user_config {
    allow_admin_create_user_only = true
  }
  username_attributes      = ["email"]
  auto_verified_attributes = ["email"]
  mfa_configuration        = "OPTIONAL"
  software_token_mfa_configuration {
    enabled = true
  }

  password_policy {
    minimum_length                   = 14
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(local.unknown) == 0
      error_message = "app clients name scopes the contracts do not declare: ${join(", ", local.unknown)}."
    }
  }
}

resource "aws_cognito_resource_server" "this" {
  user_pool_id = aws_cognito_user_pool.this.id
  identifier   = local.identifier
  name         = local.identifier

  dynamic "scope" {
    for_each = var.scopes
    content {
      scope_name        = scope.key
      scope_description = scope.value
    }
  }
}

resource "aws_cognito_user_pool_domain" "this" {
  domain       = local.domain
  user_pool_id = aws_cognito_user_pool.this.id
}

# Services: client credentials (Cognito refuses it together with the code or
# implicit grants in one client), a secret, only their own scopes.
resource "aws_cognito_user_pool_client" "service" {
  for_each = var.service_clients

  name                                 = "${var.name}-${each.key}"
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["client_credentials"]
  allowed_oauth_scopes                 = [for s in each.value.scopes : local.scope_ids[s]]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = var.access_token_minutes
  token_validity_units {
    access_token = "minutes"
  }
}

# The web UI: a public client (a browser keeps no secret), authorization code
# with PKCE, redirected back to the CloudFront domain.
resource "aws_cognito_user_pool_client" "web" {
  name                                 = "${var.name}-web"
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = false
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["code"]
  allowed_oauth_scopes                 = concat(["openid", "email"], [for s in var.web_client.scopes : local.scope_ids[s]])
  supported_identity_providers         = ["COGNITO"]
  callback_urls                        = var.web_client.callback_urls
  logout_urls                          = var.web_client.logout_urls
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_SRP_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = var.access_token_minutes
  id_token_validity                    = var.access_token_minutes
  refresh_token_validity               = 1
  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

# Each service's client secret, read by ECS into that service's task alone.
resource "aws_secretsmanager_secret" "client" {
  #checkov:skip=CKV2_AWS_57:A Cognito client secret cannot be rotated by a Secrets Manager rotation function with aws 5.100 (no AddUserPoolClientSecret); rotating it means a new app client, applied here.
  for_each = var.service_clients

  name                    = "${var.name}/identity/${each.key}-client-secret"
  description             = "Cognito app client secret of ${each.key} (client credentials grant)"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0

  tags = merge(var.tags, { Service = each.key })
}

resource "aws_secretsmanager_secret_version" "client" {
  for_each = var.service_clients

  secret_id     = aws_secretsmanager_secret.client[each.key].id
  secret_string = aws_cognito_user_pool_client.service[each.key].client_secret
}

# The gateway's API key store (digests), read by ECS into the gateway's task alone.
resource "aws_secretsmanager_secret" "api_keys" {
  #checkov:skip=CKV2_AWS_57:The store holds digests of API Gateway's usage-plan keys; it changes when the keys do (this apply), there is nothing for a rotation function to rotate.
  name                    = "${var.name}/identity/gateway-api-keys"
  description             = "API key store of the gateway: SHA-256 digests of the usage plans' keys"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0

  tags = merge(var.tags, { Service = "gateway" })
}

resource "aws_secretsmanager_secret_version" "api_keys" {
  secret_id     = aws_secretsmanager_secret.api_keys.id
  secret_string = var.api_key_store
}
