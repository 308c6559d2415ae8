data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  # Listener rule priorities follow the sorted keys, so adding a service never
  # renumbers the others' rules beyond its own position.
  grpc_keys = sort(keys(var.grpc_targets))
}

################################################################################
# Security group
################################################################################

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer ${var.name}: HTTPS in, targets out"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "https_cidr" {
  for_each = var.ingress_cidr_blocks

  security_group_id = aws_security_group.this.id
  description       = "HTTPS from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "http_cidr" {
  for_each = var.ingress_cidr_blocks

  security_group_id = aws_security_group.this.id
  description       = "HTTP from ${each.key}, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "https_sg" {
  for_each = var.ingress_security_group_ids

  security_group_id            = aws_security_group.this.id
  description                  = "HTTPS from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

# One rule per distinct target port (several gRPC services share 50051, and
# EC2 refuses duplicate rules).
resource "aws_vpc_security_group_egress_rule" "targets" {
  for_each = toset([for p in concat([var.http_target.port], [for t in values(var.grpc_targets) : t.port]) : tostring(p)])

  security_group_id = aws_security_group.this.id
  description       = "To the targets on port ${each.key}"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

################################################################################
# Load balancer
################################################################################

resource "aws_lb" "this" {
  name               = var.name
  load_balancer_type = "application"
  #checkov:skip=CKV2_AWS_28:WAF is optional by input (web_acl_arn); the public edge is CloudFront + API Gateway, which carry their own web ACLs.
  internal                   = var.internal
  subnets                    = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
  security_groups            = [aws_security_group.this.id]
  enable_deletion_protection = var.deletion_protection
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_http2               = true
  idle_timeout               = var.idle_timeout

  access_logs {
    bucket  = var.access_logs_bucket
    prefix  = "alb/${var.name}"
    enabled = true
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.web_acl_arn != null ? 1 : 0

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.web_acl_arn
}

################################################################################
# Target groups
################################################################################

resource "aws_lb_target_group" "http" {
  name                 = substr("${var.name}-${var.http_target.name}", 0, 32)
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  port                 = var.http_target.port
  deregistration_delay = 30

  health_check {
    enabled             = true
    protocol            = "HTTP"
    path                = var.http_target.health_check_path
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Service = var.http_target.name })
}

resource "aws_lb_target_group" "grpc" {
  #checkov:skip=CKV_AWS_378:TLS terminates at the ALB's HTTPS listener (gRPC needs it); targets serve h2c in private subnets that only the ALB's security group reaches.
  for_each = var.grpc_targets

  name                 = substr("${var.name}-${each.key}-grpc", 0, 32)
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  protocol_version     = "GRPC"
  port                 = each.value.port
  deregistration_delay = 30

  health_check {
    enabled  = true
    protocol = "HTTP"
    path     = "/grpc.health.v1.Health/Check"
    # gRPC status code OK; the AWS default (12, UNIMPLEMENTED) would pass a
    # server without the health service.
    matcher             = "0"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = merge(var.tags, { Service = each.key })
}

################################################################################
# Listeners
################################################################################

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.http.arn
  }

  tags = var.tags
}

resource "aws_lb_listener_rule" "grpc" {
  for_each = var.grpc_targets

  listener_arn = aws_lb_listener.https.arn
  priority     = 100 + index(local.grpc_keys, each.key)

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.grpc[each.key].arn
  }

  condition {
    path_pattern {
      values = each.value.path_patterns
    }
  }

  condition {
    http_header {
      http_header_name = "content-type"
      values           = ["application/grpc*"]
    }
  }

  tags = merge(var.tags, { Service = each.key })
}
