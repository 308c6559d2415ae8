mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

override_resource {
  target          = aws_kms_key.this
  override_during = plan
  values          = { arn = "arn:aws:kms:us-east-1:123456789012:key/abc" }
}

variables {
  name = "colonnade-test-edge"
}

run "address_rules_at_the_edge" {
  command = plan

  assert {
    condition     = aws_wafv2_web_acl.this.scope == "CLOUDFRONT"
    error_message = "CloudFront scope: WAF sees the viewer's address."
  }

  assert {
    condition     = one([for r in aws_wafv2_web_acl.this.rule : r.statement[0].rate_based_statement[0].aggregate_key_type if r.name == "rate-limit-per-client"]) == "IP" && one([for r in aws_wafv2_web_acl.this.rule : r.statement[0].rate_based_statement[0].limit if r.name == "rate-limit-per-client"]) == 2000
    error_message = "Per-client rate limit on the viewer's address."
  }

  assert {
    condition     = toset([for r in aws_wafv2_web_acl.this.rule : r.name]) == toset(["rate-limit-per-client", "AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesAnonymousIpList", "AWSManagedRulesKnownBadInputsRuleSet"])
    error_message = "Reputation, anonymous-address and known-bad-input (Log4j) rules."
  }

  assert {
    condition     = startswith(aws_cloudwatch_log_group.this.name, "aws-waf-logs-") && aws_cloudwatch_log_group.this.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/abc"
    error_message = "Logs to an encrypted aws-waf-logs-* group."
  }
}

run "rejects_a_rate_below_the_waf_minimum" {
  command = plan

  variables {
    rate_limit = 5
  }

  expect_failures = [var.rate_limit]
}
