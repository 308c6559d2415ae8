mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

override_resource {
  target          = aws_s3_bucket.spa
  override_during = plan
  values = {
    id                          = "colonnade-test-spa-1"
    arn                         = "arn:aws:s3:::colonnade-test-spa-1"
    bucket_regional_domain_name = "colonnade-test-spa-1.s3.eu-west-1.amazonaws.com"
  }
}

override_resource {
  target          = aws_cloudfront_origin_access_control.spa
  override_during = plan
  values          = { id = "E1OAC" }
}

variables {
  name                           = "colonnade-test"
  api_origin_domain              = "abc123.execute-api.eu-west-1.amazonaws.com"
  api_origin_path                = "/test"
  access_logs_bucket             = "colonnade-test-logs"
  access_logs_bucket_domain_name = "colonnade-test-logs.s3.amazonaws.com"
  site_dir                       = "tests/fixtures/site"
  api_origin_headers             = { "x-origin-verify" = "s3cr3t" }
  api_default_key                = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
}

run "private_encrypted_spa_bucket" {
  command = plan

  assert {
    condition     = aws_s3_bucket_public_access_block.spa.block_public_acls && aws_s3_bucket_public_access_block.spa.block_public_policy && aws_s3_bucket_public_access_block.spa.ignore_public_acls && aws_s3_bucket_public_access_block.spa.restrict_public_buckets
    error_message = "The SPA bucket blocks all public access."
  }

  assert {
    condition     = one(aws_s3_bucket_versioning.spa.versioning_configuration).status == "Enabled"
    error_message = "Versioned."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.spa.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "aws:kms"
    error_message = "KMS-encrypted."
  }

  assert {
    condition     = aws_cloudfront_origin_access_control.spa.origin_access_control_origin_type == "s3" && aws_cloudfront_origin_access_control.spa.signing_behavior == "always"
    error_message = "Origin Access Control signs every request."
  }
}

run "distribution_behaviours" {
  command = plan

  assert {
    condition     = length(aws_cloudfront_distribution.this.origin) == 2
    error_message = "S3 and API Gateway origins."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.ordered_cache_behavior[0].path_pattern == "/api/*" && aws_cloudfront_distribution.this.ordered_cache_behavior[0].target_origin_id == "api"
    error_message = "/api/* goes to API Gateway."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.ordered_cache_behavior[0].cache_policy_id == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    error_message = "The API is not cached at the edge (Managed-CachingDisabled)."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.default_cache_behavior[0].viewer_protocol_policy == "redirect-to-https" && aws_cloudfront_distribution.this.ordered_cache_behavior[0].viewer_protocol_policy == "https-only"
    error_message = "HTTPS only."
  }

  assert {
    condition     = aws_cloudfront_distribution.this.default_root_object == "index.html" && length(aws_cloudfront_distribution.this.custom_error_response) == 0
    error_message = "index.html root; SPA fallback by function, not by rewriting the API's errors."
  }

  assert {
    condition     = strcontains(aws_cloudfront_function.spa_routes.code, "/index.html")
    error_message = "The SPA routes function serves index.html."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.logging_config).bucket == "colonnade-test-logs.s3.amazonaws.com"
    error_message = "Standard logging to the access log bucket."
  }

  assert {
    condition     = one(aws_cloudfront_response_headers_policy.security.security_headers_config[0].strict_transport_security).access_control_max_age_sec >= 31536000
    error_message = "HSTS for at least a year."
  }
}

run "spa_only_and_custom_domain" {
  command = plan

  variables {
    api_origin_domain   = null
    aliases             = ["www.example.com"]
    acm_certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/abc"
  }

  assert {
    condition     = length(aws_cloudfront_distribution.this.origin) == 1 && length(aws_cloudfront_distribution.this.ordered_cache_behavior) == 0
    error_message = "Without an API only the SPA is served."
  }

  assert {
    condition     = one(aws_cloudfront_distribution.this.viewer_certificate).minimum_protocol_version == "TLSv1.2_2021"
    error_message = "A custom domain gets TLS 1.2+."
  }
}

run "certificate_must_be_in_us_east_1" {
  command = plan

  variables {
    acm_certificate_arn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  }

  expect_failures = [var.acm_certificate_arn]
}

run "publishes_the_site_with_the_api_base" {
  command = plan

  assert {
    condition     = toset(keys(aws_s3_object.site)) == toset(["index.html", "app.js"])
    error_message = "Every static file is published, Python package files are not."
  }

  assert {
    condition     = strcontains(aws_s3_object.site["index.html"].content, "<head>\n  <meta name=\"api-base\" content=\"api/\">") && aws_s3_object.site["index.html"].content_type == "text/html; charset=utf-8"
    error_message = "The published index.html points the SPA at api/, which CloudFront routes to API Gateway."
  }

  assert {
    condition     = aws_s3_object.site["app.js"].source_hash == filemd5("tests/fixtures/site/app.js") && startswith(aws_s3_object.site["app.js"].content_type, "text/javascript")
    error_message = "Other files are uploaded unchanged, with their content type."
  }

  assert {
    condition     = one(flatten([for o in aws_cloudfront_distribution.this.origin : [for h in o.custom_header : h.name] if o.origin_id == "api"])) == "x-origin-verify"
    error_message = "CloudFront sends the header the API's web ACL requires."
  }

  assert {
    condition     = strcontains(aws_cloudfront_function.strip_api_prefix[0].code, "if (!request.headers['x-api-key'])")
    error_message = "Keyless /api calls (the SPA's) get the web plan's key; a caller's own key passes through."
  }
}

run "an_index_that_already_sets_the_base_is_refused" {
  command = plan

  variables {
    site_dir = "tests/fixtures/site-with-base"
  }

  expect_failures = [aws_s3_object.site]
}
