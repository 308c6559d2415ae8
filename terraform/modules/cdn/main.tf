data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # AWS managed policies (stable IDs documented by CloudFront).
  managed_cache_policy_caching_optimized               = "658327ea-f89d-4fab-a63d-7e88639e58f6"
  managed_cache_policy_caching_disabled                = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
  managed_origin_request_policy_all_viewer_except_host = "b689b0a8-53d0-40ab-baf2-68738e2966ac"

  s3_origin_id  = "spa"
  api_origin_id = "api"
  with_api      = var.api_origin_domain != null
  custom_domain = var.acm_certificate_arn != null

  # The SPA's files, published by Terraform so that what CloudFront serves is
  # exactly the repository's web UI (Python package files excepted).
  site_files = var.site_dir == null ? toset([]) : toset([
    for f in fileset(var.site_dir, "**") : f
    if !endswith(f, ".py") && !strcontains(f, "__pycache__/")
  ])
  content_types = {
    html = "text/html; charset=utf-8"
    js   = "text/javascript; charset=utf-8"
    css  = "text/css; charset=utf-8"
    json = "application/json"
    svg  = "image/svg+xml"
    png  = "image/png"
    ico  = "image/x-icon"
    txt  = "text/plain; charset=utf-8"
  }
  # The SPA calls the API relative to this base (app.js reads the meta tag):
  # CloudFront routes api/* to API Gateway. Locally the gateway serves both,
  # so the committed index.html has no base.
  api_base_meta = "<meta name=\"api-base\" content=\"api/\">"
  index_html    = var.site_dir == null ? null : replace(file("${var.site_dir}/index.html"), "<head>", "<head>\n  ${local.api_base_meta}")
}

################################################################################
# SPA bucket: private, versioned, KMS-encrypted, readable only by CloudFront
################################################################################

resource "aws_s3_bucket" "spa" {
  #checkov:skip=CKV_AWS_144:The SPA is a build artefact: CI can publish it again to any region; replication buys nothing.
  #checkov:skip=CKV2_AWS_62:No consumer of object-created events for static assets.
  bucket_prefix = "${substr(var.name, 0, 30)}-spa-"
  force_destroy = var.force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "spa" {
  bucket                  = aws_s3_bucket.spa.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "spa" {
  bucket = aws_s3_bucket.spa.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "spa" {
  bucket = aws_s3_bucket.spa.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_kms_key" "spa" {
  description         = "${var.name} single-page app bucket"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudFrontOriginAccessControl"
        Effect    = "Allow"
        Principal = { Service = "cloudfront.amazonaws.com" }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceArn" = aws_cloudfront_distribution.this.arn }
        }
      },
    ]
  })

  tags = var.tags
}

resource "aws_s3_bucket_server_side_encryption_configuration" "spa" {
  bucket = aws_s3_bucket.spa.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.spa.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "spa" {
  bucket = aws_s3_bucket.spa.id

  rule {
    id     = "old-builds"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_object" "site" {
  for_each = local.site_files

  bucket        = aws_s3_bucket.spa.id
  key           = each.key
  content_type  = lookup(local.content_types, reverse(split(".", each.key))[0], "application/octet-stream")
  cache_control = each.key == "index.html" ? "no-cache" : "public, max-age=300"
  # index.html gets the API base; every other file is uploaded as it is.
  content     = each.key == "index.html" ? local.index_html : null
  source      = each.key == "index.html" ? null : "${var.site_dir}/${each.key}"
  source_hash = each.key == "index.html" ? null : filemd5("${var.site_dir}/${each.key}")

  tags = var.tags

  lifecycle {
    precondition {
      condition     = contains(local.site_files, "index.html") && strcontains(local.index_html, local.api_base_meta) && length(regexall("name=\"api-base\"", local.index_html)) == 1
      error_message = "site_dir needs an index.html with a <head> element and no api-base meta of its own: the published copy gets <meta name=\"api-base\" content=\"api/\">."
    }
  }

  depends_on = [aws_s3_bucket_server_side_encryption_configuration.spa]
}

resource "aws_s3_bucket_logging" "spa" {
  bucket        = aws_s3_bucket.spa.id
  target_bucket = var.access_logs_bucket
  target_prefix = "s3/${aws_s3_bucket.spa.id}/"
}

data "aws_iam_policy_document" "spa" {
  statement {
    sid       = "CloudFrontReadsThroughOriginAccessControl"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.spa.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudfront_distribution.this.arn]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.spa.arn,
      "${aws_s3_bucket.spa.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "spa" {
  bucket = aws_s3_bucket.spa.id
  policy = data.aws_iam_policy_document.spa.json

  depends_on = [aws_s3_bucket_public_access_block.spa]
}

################################################################################
# CloudFront
################################################################################

resource "aws_cloudfront_origin_access_control" "spa" {
  name                              = "${var.name}-spa"
  description                       = "SPA bucket of ${var.name}"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

# SPA fallback: a path without a file extension is a client-side route, so
# serve index.html. Done per request in the SPA behaviour only, never as a
# distribution-wide custom error response that would also turn the API's real
# 403/404 answers into index.html.
resource "aws_cloudfront_function" "spa_routes" {
  name    = "${var.name}-spa-routes"
  runtime = "cloudfront-js-2.0"
  comment = "Serve index.html for client-side routes"
  publish = true
  code    = <<-EOT
    function handler(event) {
      var request = event.request;
      var last = request.uri.split('/').pop();
      if (last === '' || last.indexOf('.') === -1) {
        request.uri = '/index.html';
      }
      return request;
    }
  EOT
}

resource "aws_cloudfront_function" "strip_api_prefix" {
  count = local.with_api ? 1 : 0

  name    = "${var.name}-strip-api-prefix"
  runtime = "cloudfront-js-2.0"
  comment = "Map /api/<path> to /<path> on the API Gateway origin; default API key for keyless calls"
  publish = true
  # Every operation requires an API key; the SPA sends none, so a call
  # without one gets the web usage plan's key (its throttling applies to
  # all browsers together, the edge web ACL's rate limit to each client).
  # Partners keep sending their own keys, which pass through unchanged.
  code = <<-EOT
    function handler(event) {
      var request = event.request;
      request.uri = request.uri.replace(/^\/api(?=\/|$)/, '') || '/';%{if var.api_default_key != null}
      if (!request.headers['x-api-key']) {
        request.headers['x-api-key'] = { value: '${var.api_default_key}' };
      }%{endif}
      return request;
    }
  EOT
}

resource "aws_cloudfront_response_headers_policy" "security" {
  name    = "${var.name}-security-headers"
  comment = "Security headers of ${var.name}"

  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = true
    }
    xss_protection {
      protection = true
      mode_block = true
      override   = true
    }
    content_security_policy {
      content_security_policy = var.content_security_policy
      override                = true
    }
  }
}

resource "aws_cloudfront_distribution" "this" {
  #checkov:skip=CKV_AWS_310:One regional API and one bucket per environment; there is no second origin to fail over to (DR re-points the environment).
  #checkov:skip=CKV_AWS_374:The API and SPA serve every country; no geo restriction.
  #checkov:skip=CKV_AWS_68:WAF is attached by input (web_acl_arn, a CLOUDFRONT-scope ACL from us-east-1); the API stage behind /api/* always has its regional web ACL.
  #checkov:skip=CKV2_AWS_47:Same: the CloudFront web ACL is optional by input; the API's regional ACL carries AWSManagedRulesKnownBadInputsRuleSet (Log4j).
  #checkov:skip=CKV2_AWS_42:A custom domain (aliases + us-east-1 certificate) is an input; without one the AWS-managed *.cloudfront.net certificate serves TLS.
  #checkov:skip=CKV_AWS_174:Without a custom domain CloudFront serves *.cloudfront.net, whose TLS policy cannot be set; with one, minimum_protocol_version is TLSv1.2_2021.
  enabled             = true
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  comment             = "${var.name}: SPA and /api/*"
  default_root_object = "index.html"
  price_class         = var.price_class
  aliases             = var.aliases
  web_acl_id          = var.web_acl_arn

  origin {
    origin_id                = local.s3_origin_id
    domain_name              = aws_s3_bucket.spa.bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.spa.id
  }

  dynamic "origin" {
    for_each = local.with_api ? [1] : []
    content {
      origin_id   = local.api_origin_id
      domain_name = var.api_origin_domain
      origin_path = var.api_origin_path

      custom_origin_config {
        http_port              = 80
        https_port             = 443
        origin_protocol_policy = "https-only"
        origin_ssl_protocols   = ["TLSv1.2"]
      }

      # The API's web ACL admits only requests carrying this header.
      dynamic "custom_header" {
        # Header names are not secret; their values stay sensitive.
        for_each = nonsensitive(toset(keys(var.api_origin_headers)))
        content {
          name  = custom_header.value
          value = var.api_origin_headers[custom_header.value]
        }
      }
    }
  }

  default_cache_behavior {
    target_origin_id           = local.s3_origin_id
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.managed_cache_policy_caching_optimized
    response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.spa_routes.arn
    }
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.with_api ? [1] : []
    content {
      path_pattern               = "/api/*"
      target_origin_id           = local.api_origin_id
      viewer_protocol_policy     = "https-only"
      allowed_methods            = ["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = local.managed_cache_policy_caching_disabled
      origin_request_policy_id   = local.managed_origin_request_policy_all_viewer_except_host
      response_headers_policy_id = aws_cloudfront_response_headers_policy.security.id

      function_association {
        event_type   = "viewer-request"
        function_arn = aws_cloudfront_function.strip_api_prefix[0].arn
      }
    }
  }

  logging_config {
    bucket          = var.access_logs_bucket_domain_name
    prefix          = "cloudfront/${var.name}/"
    include_cookies = false
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = !local.custom_domain
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = local.custom_domain ? "sni-only" : null
    minimum_protocol_version       = local.custom_domain ? "TLSv1.2_2021" : "TLSv1"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.aliases) == 0 || local.custom_domain
      error_message = "aliases need acm_certificate_arn."
    }
  }
}
