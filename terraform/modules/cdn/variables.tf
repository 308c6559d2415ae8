variable "name" {
  description = "Name prefix (for example `colonnade-prod`) of the bucket, distribution comment, functions and policies."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "api_origin_domain" {
  description = "Host name of the REST API (`<id>.execute-api.<region>.amazonaws.com`). Null: no `/api/*` behaviour."
  type        = string
  default     = null
}

variable "api_origin_path" {
  description = "Origin path of the API, the stage (`/prod`). CloudFront strips `/api` from the viewer path, so `/api/v1/products` reaches `/<stage>/v1/products`."
  type        = string
  default     = ""
  nullable    = false

  validation {
    condition     = var.api_origin_path == "" || can(regex("^/[A-Za-z0-9_/-]*[A-Za-z0-9_]$", var.api_origin_path))
    error_message = "api_origin_path must be empty or start with / and not end with /."
  }
}

variable "api_origin_headers" {
  description = "Headers CloudFront adds to every request to the API origin (the API's x-origin-verify header), name => value."
  type        = map(string)
  default     = {}
  nullable    = false
  sensitive   = true
}

variable "api_default_key" {
  description = "API key CloudFront adds to /api/* requests that carry none (the SPA's calls; the web usage plan's key). Null: keyless calls reach API Gateway without one."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.api_default_key == null || can(regex("^[A-Za-z0-9]{20,128}$", var.api_default_key))
    error_message = "api_default_key must be an API Gateway key value (20-128 letters and digits)."
  }
}

variable "site_dir" {
  description = "Directory of the single-page app's static files (services/colonnade/web), uploaded to the SPA bucket; index.html gets <meta name=\"api-base\" content=\"api/\">. Null: publish separately."
  type        = string
  default     = null
}

variable "access_logs_bucket_domain_name" {
  description = "Domain name of the S3 bucket that receives CloudFront standard logs (ACLs enabled: the observability module's bucket)."
  type        = string
}

variable "access_logs_bucket" {
  description = "Name of the same bucket, for the SPA bucket's S3 server access logs."
  type        = string
}

variable "aliases" {
  description = "Custom domain names of the distribution (need acm_certificate_arn, in us-east-1)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "acm_certificate_arn" {
  description = "ACM certificate in us-east-1 covering aliases. Null uses the *.cloudfront.net certificate."
  type        = string
  default     = null

  validation {
    condition     = var.acm_certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be an ACM certificate ARN in us-east-1 (CloudFront only uses certificates from there)."
  }
}

variable "web_acl_arn" {
  description = "WAFv2 web ACL with scope CLOUDFRONT (created in us-east-1) to attach; null for none."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "content_security_policy" {
  description = "Content-Security-Policy header sent with every response."
  type        = string
  default     = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
  nullable    = false
}

variable "force_destroy" {
  description = "Let Terraform delete the SPA bucket with its objects (dev only)."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
