variable "name" {
  description = "Name of the user pool and prefix of the secrets (`colonnade-<env>`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name))
    error_message = "name must be 2-41 lower-case letters, digits and hyphens."
  }
}

variable "resource_server_identifier" {
  description = "Identifier of the resource server (null: `name`). Cognito writes every custom scope as `<identifier>/<scope>` in its tokens: the services strip this prefix (AUTH_SCOPE_PREFIX)."
  type        = string
  default     = null

  validation {
    condition     = var.resource_server_identifier == null || can(regex("^[\\x21\\x23-\\x2E\\x30-\\x5B\\x5D-\\x7E]{1,256}$", coalesce(var.resource_server_identifier, "x")))
    error_message = "resource_server_identifier must be 1-256 printable characters without spaces, quotes, slashes or backslashes."
  }
}

variable "scopes" {
  description = "The scopes of the resource server: scope => description. Exactly the contracts' scopes (the live root reads them from the API document's x-colonnade-scopes); at most 100 (Cognito's limit per resource server)."
  type        = map(string)
  nullable    = false

  validation {
    condition     = length(var.scopes) >= 1 && length(var.scopes) <= 100
    error_message = "a resource server has 1 to 100 scopes."
  }

  validation {
    condition     = alltrue([for s, d in var.scopes : can(regex("^[\\x21\\x23-\\x2E\\x30-\\x5B\\x5D-\\x7E]{1,256}$", s)) && length(d) >= 1 && length(d) <= 256])
    error_message = "scope names are printable characters without spaces, quotes, slashes or backslashes; descriptions 1-256 characters."
  }
}

variable "service_clients" {
  description = "App clients of the services that call others with an identity of their own (client credentials grant, with a secret): name => the scopes it may be given (a subset of `scopes`). Each secret is stored in Secrets Manager for that service's task alone."
  type = map(object({
    scopes = list(string)
  }))
  default  = {}
  nullable = false

  validation {
    condition     = alltrue([for c in values(var.service_clients) : length(c.scopes) > 0])
    error_message = "Cognito refuses a client credentials client without a custom scope: give each service client at least one."
  }
}

variable "web_client" {
  description = "The public app client of the single-page app: authorization code grant with PKCE, no secret; `scopes` (a subset of `scopes`, `openid` and `email` are added) and the callback and sign-out URLs (https, on the CloudFront domain)."
  type = object({
    scopes        = list(string)
    callback_urls = list(string)
    logout_urls   = list(string)
  })
  nullable = false

  validation {
    condition     = length(var.web_client.callback_urls) > 0 && alltrue([for u in concat(var.web_client.callback_urls, var.web_client.logout_urls) : startswith(u, "https://")])
    error_message = "web_client needs at least one callback URL, and Cognito accepts only https:// ones (http://localhost aside)."
  }
}

variable "access_token_minutes" {
  description = "Lifetime of access tokens, in minutes (Cognito: 5 to 1440). The services fetch a new one a minute before expiry."
  type        = number
  default     = 60
  nullable    = false

  validation {
    condition     = var.access_token_minutes >= 5 && var.access_token_minutes <= 1440
    error_message = "access_token_minutes must be between 5 and 1440."
  }
}

variable "api_key_store" {
  description = "The gateway's API key store, `{\"keys\": [{\"id\", \"sha256\", \"principal\", \"scopes\", \"tier\"}]}` (digests, never keys), kept as a secret for the gateway's task (COLONNADE_GATEWAY_API_KEYS); by default empty."
  type        = string
  default     = "{\"keys\": []}"
  nullable    = false
  sensitive   = true
}

variable "kms_key_arn" {
  description = "Customer managed KMS key of the client secrets (the tasks' execution roles need kms:Decrypt on it through Secrets Manager)."
  type        = string
  nullable    = false
}

variable "deletion_protection" {
  description = "Refuse to delete the user pool (prod: its users live there)."
  type        = bool
  default     = true
  nullable    = false
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
