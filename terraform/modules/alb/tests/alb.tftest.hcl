mock_provider "aws" {
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
}

variables {
  name               = "colonnade-test"
  vpc_id             = "vpc-123"
  subnet_ids         = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  certificate_arn    = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  access_logs_bucket = "colonnade-test-logs"
  grpc_targets = {
    catalog = { port = 50051, path_patterns = ["/colonnade.catalog.v*"] }
    orders  = { port = 50051, path_patterns = ["/colonnade.orders.v*"] }
  }
  ingress_cidr_blocks = { vpc = "10.0.0.0/16" }
}

run "hardened_load_balancer" {
  command = plan

  assert {
    condition     = aws_lb.this.internal && aws_lb.this.drop_invalid_header_fields && aws_lb.this.enable_deletion_protection
    error_message = "Internal, drops invalid headers, deletion protection on by default."
  }

  assert {
    condition     = aws_lb.this.access_logs[0].enabled && aws_lb.this.access_logs[0].bucket == "colonnade-test-logs"
    error_message = "Access logs go to the given bucket."
  }

  assert {
    condition     = length(aws_lb.this.subnets) == 3
    error_message = "The load balancer spans three AZs."
  }

  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "redirect" && aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS" && aws_lb_listener.http.default_action[0].redirect[0].status_code == "HTTP_301"
    error_message = "HTTP redirects to HTTPS."
  }

  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.certificate_arn == var.certificate_arn && startswith(aws_lb_listener.https.ssl_policy, "ELBSecurityPolicy-TLS13")
    error_message = "HTTPS with the given certificate and a TLS 1.3/1.2 policy."
  }
}

run "grpc_target_groups" {
  command = plan

  assert {
    condition     = alltrue([for tg in aws_lb_target_group.grpc : tg.protocol_version == "GRPC" && tg.target_type == "ip"])
    error_message = "gRPC target groups use protocol version GRPC with IP targets."
  }

  assert {
    condition     = alltrue([for tg in aws_lb_target_group.grpc : tg.health_check[0].matcher == "0" && tg.health_check[0].path == "/grpc.health.v1.Health/Check"])
    error_message = "gRPC health checks call grpc.health.v1 and expect status 0."
  }

  assert {
    condition     = aws_lb_target_group.http.protocol_version == "HTTP1" && aws_lb_target_group.http.health_check[0].path == "/healthz"
    error_message = "The gateway target group is HTTP with its health path."
  }

  assert {
    condition     = aws_lb_listener_rule.grpc["catalog"].priority == 100 && aws_lb_listener_rule.grpc["orders"].priority == 101
    error_message = "Rule priorities follow the sorted service names."
  }

  assert {
    condition     = one(flatten([for c in aws_lb_listener_rule.grpc["orders"].condition : [for p in c.path_pattern : p.values]])) == "/colonnade.orders.v*"
    error_message = "Each gRPC service is routed by its package path."
  }
}

run "one_egress_rule_per_target_port" {
  command = plan

  assert {
    condition     = toset(keys(aws_vpc_security_group_egress_rule.targets)) == toset(["8080", "50051"])
    error_message = "Services sharing a port share one egress rule (EC2 rejects duplicates)."
  }
}

run "public_without_deletion_protection" {
  command = plan

  variables {
    internal            = false
    deletion_protection = false
  }

  assert {
    condition     = !aws_lb.this.internal && !aws_lb.this.enable_deletion_protection
    error_message = "Both are inputs."
  }
}

run "rejects_weak_tls_and_bad_certificates" {
  command = plan

  variables {
    ssl_policy      = "ELBSecurityPolicy-2016-08"
    certificate_arn = "not-an-arn"
  }

  expect_failures = [var.ssl_policy, var.certificate_arn]
}
