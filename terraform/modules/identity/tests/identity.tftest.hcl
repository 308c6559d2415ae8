# Unit tests of the identity module's logic with a mocked AWS provider.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_resource "aws_cognito_user_pool" {
    defaults = { id = "eu-west-1_AbCdEf123" }
  }
  mock_resource "aws_secretsmanager_secret_version" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test/identity/orders-client-secret-AbCdEf" }
  }
}

variables {
  name = "colonnade-test"
  scopes = {
    "catalog.products.write"     = "CreateProduct"
    "catalog.reservations.write" = "ReserveStock"
    "orders.read"                = "GetOrder"
  }
  service_clients = {
    gateway = { scopes = ["catalog.products.write", "catalog.reservations.write", "orders.read"] }
    orders  = { scopes = ["catalog.reservations.write"] }
  }
  web_client = {
    scopes        = ["catalog.products.write", "orders.read"]
    callback_urls = ["https://d111111abcdef8.cloudfront.net/"]
    logout_urls   = ["https://d111111abcdef8.cloudfront.net/"]
  }
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "issuer_scopes_and_clients" {
  command = apply

  assert {
    condition     = output.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123" && output.jwks_url == "${output.issuer}/.well-known/jwks.json"
    error_message = "the issuer and JWKS URL are the pool's"
  }
  assert {
    condition     = toset([for s in aws_cognito_resource_server.this.scope : s.scope_name]) == toset(keys(var.scopes))
    error_message = "the resource server declares exactly the given scopes"
  }
  assert {
    condition     = aws_cognito_user_pool_client.service["orders"].allowed_oauth_scopes == toset(["colonnade-test/catalog.reservations.write"]) && aws_cognito_user_pool_client.service["orders"].allowed_oauth_flows == toset(["client_credentials"]) && aws_cognito_user_pool_client.service["orders"].generate_secret
    error_message = "orders gets the client credentials grant, a secret and only its scope"
  }
  assert {
    condition     = !aws_cognito_user_pool_client.web.generate_secret && aws_cognito_user_pool_client.web.allowed_oauth_flows == toset(["code"])
    error_message = "the web client is public and uses the authorization code grant"
  }
  assert {
    condition     = output.scope_prefix == "colonnade-test/" && output.token_endpoint == "https://colonnade-test-123456789012.auth.eu-west-1.amazoncognito.com/oauth2/token"
    error_message = "scope prefix and token endpoint"
  }
  assert {
    condition     = aws_secretsmanager_secret_version.client["orders"].secret_string == aws_cognito_user_pool_client.service["orders"].client_secret && aws_secretsmanager_secret.client["orders"].kms_key_id == var.kms_key_arn
    error_message = "each client secret is stored under the given key"
  }
}

run "a_client_cannot_ask_for_a_scope_the_contracts_do_not_declare" {
  command = plan

  variables {
    service_clients = { orders = { scopes = ["admin.everything"] } }
  }

  expect_failures = [aws_cognito_user_pool.this]
}
