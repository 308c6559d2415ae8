data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  full_name = "${var.name_prefix}-${var.name}"
  port_name = var.app_protocol == "grpc" ? "grpc" : "http"
  has_port  = var.container_port != null

  spot_in_strategy = anytrue([for s in var.capacity_provider_strategy : s.capacity_provider == "FARGATE_SPOT" && s.weight > 0])
}

################################################################################
# IAM: execution role (ECS agent: pull, logs, secrets) and task role (the app)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${substr(local.full_name, 0, 26)}-exec-"
  description        = "ECS agent role of ${local.full_name}: pull the image, write logs, read its secrets"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrAuth"
    # GetAuthorizationToken has no resource-level permissions.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [var.image_repository_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${var.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = length(var.secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = var.secret_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.secrets_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptSecrets"
      actions   = ["kms:Decrypt"]
      resources = var.secrets_kms_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${data.aws_region.current.name}.amazonaws.com"]
      }
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "ecs-agent"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name_prefix        = "${substr(local.full_name, 0, 26)}-task-"
  description        = "Application role of ${local.full_name}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json

  tags = var.tags
}

data "aws_iam_policy_document" "task" {
  count = var.db_iam_auth != null || var.enable_execute_command || var.xray_tracing ? 1 : 0

  dynamic "statement" {
    for_each = var.db_iam_auth != null ? [var.db_iam_auth] : []
    content {
      sid       = "ConnectToAuroraWithIam"
      actions   = ["rds-db:connect"]
      resources = ["arn:${data.aws_partition.current.partition}:rds-db:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:dbuser:${statement.value.cluster_resource_id}/${statement.value.db_user}"]
    }
  }

  dynamic "statement" {
    for_each = var.enable_execute_command ? [1] : []
    content {
      sid = "EcsExec"
      # Session Manager channels have no resource-level permissions.
      actions   = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.xray_tracing ? [1] : []
    content {
      sid = "SendTracesToXRay"
      # The ADOT collector sidecar's X-Ray exporter; X-Ray has no resource-level permissions
      # for these (AWS ECS guide, "Required IAM permissions for AWS Distro for OpenTelemetry
      # integration with AWS X-Ray").
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "task" {
  count = var.db_iam_auth != null || var.enable_execute_command || var.xray_tracing ? 1 : 0

  name   = "application"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task[0].json
}

################################################################################
# Network
################################################################################

resource "aws_security_group" "this" {
  #checkov:skip=CKV2_AWS_5:A service attaches it; a one-shot task's group is attached by ecs run-task (scripts/deploy.py), which Terraform does not see.
  name_prefix = "${local.full_name}-"
  description = "Tasks of ${local.full_name}"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = local.full_name })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_security_groups" {
  for_each = local.has_port ? var.ingress_security_group_ids : {}

  security_group_id            = aws_security_group.this.id
  description                  = "${var.app_protocol} from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "from_cidrs" {
  for_each = local.has_port ? var.ingress_cidr_blocks : {}

  security_group_id = aws_security_group.this.id
  description       = "${var.app_protocol} from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = var.container_port
  to_port           = var.container_port
  cidr_ipv4         = each.value
}

# Egress: HTTPS to AWS APIs (VPC endpoints, or NAT for the rest) and any
# port inside the VPC (Aurora, memcached, other services through Service Connect).
resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.this.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

data "aws_vpc" "this" {
  id = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "vpc" {
  security_group_id = aws_security_group.this.id
  description       = "Databases, caches and services inside the VPC"
  ip_protocol       = "tcp"
  from_port         = 1
  to_port           = 65535
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

################################################################################
# Task definition and service
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = local.full_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions    = jsonencode(concat([var.container_definition], var.sidecar_definitions))

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  tags = merge(var.tags, { Service = var.name })

  lifecycle {
    precondition {
      condition     = var.container_definition.name == var.name
      error_message = "container_definition.name must be the service name (${var.name}): load balancers and Service Connect address the container by it."
    }
  }
}

resource "aws_ecs_service" "this" {
  count = var.create_service ? 1 : 0

  name                    = var.name
  cluster                 = var.cluster_arn
  task_definition         = aws_ecs_task_definition.this.arn
  desired_count           = var.desired_count
  platform_version        = "1.4.0"
  enable_execute_command  = var.enable_execute_command
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  wait_for_steady_state   = var.wait_for_steady_state

  # Keep the tasks balanced over the AZs after an AZ recovers.
  availability_zone_rebalancing = "ENABLED"

  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = length(var.load_balancers) > 0 ? var.health_check_grace_period_seconds : null

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  deployment_controller {
    type = "ECS"
  }

  dynamic "capacity_provider_strategy" {
    for_each = var.capacity_provider_strategy
    content {
      capacity_provider = capacity_provider_strategy.value.capacity_provider
      base              = capacity_provider_strategy.value.base
      weight            = capacity_provider_strategy.value.weight
    }
  }

  network_configuration {
    subnets          = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
    security_groups  = [aws_security_group.this.id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = var.load_balancers
    content {
      target_group_arn = load_balancer.value.target_group_arn
      container_name   = var.name
      container_port   = load_balancer.value.container_port
    }
  }

  service_connect_configuration {
    enabled   = true
    namespace = var.service_connect_namespace_arn

    log_configuration {
      log_driver = "awslogs"
      options = {
        awslogs-group         = var.log_group_name
        awslogs-region        = data.aws_region.current.name
        awslogs-stream-prefix = "service-connect"
      }
    }

    dynamic "service" {
      for_each = var.publish_in_namespace ? [1] : []
      content {
        port_name      = local.port_name
        discovery_name = var.name

        client_alias {
          port     = var.container_port
          dns_name = var.name
        }
      }
    }
  }

  tags = merge(var.tags, { Service = var.name })

  lifecycle {
    # Autoscaling owns the running count after the first apply.
    ignore_changes = [desired_count]

    # "Linux tasks with the ARM64 architecture don't support the Fargate Spot
    # capacity provider" (ECS developer guide, fargate-capacity-providers.html):
    # the tasks placed on Spot would never start.
    precondition {
      condition     = !(var.cpu_architecture == "ARM64" && local.spot_in_strategy)
      error_message = "ARM64 tasks cannot run on FARGATE_SPOT: give FARGATE_SPOT weight 0 or build the image for X86_64."
    }

    precondition {
      condition     = local.has_port
      error_message = "A service needs container_port (only one-shot task definitions, create_service = false, have none)."
    }
  }
}

################################################################################
# Autoscaling
################################################################################

resource "aws_appautoscaling_target" "this" {
  count = var.create_service ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${aws_ecs_service.this[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  tags = var.tags
}

resource "aws_appautoscaling_policy" "cpu" {
  count = var.create_service ? 1 : 0

  name               = "${local.full_name}-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "requests" {
  count = var.create_service && var.requests_per_target != null ? 1 : 0

  name               = "${local.full_name}-requests"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.requests_per_target
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = var.alb_resource_label
    }
  }

  lifecycle {
    precondition {
      condition     = var.alb_resource_label != null
      error_message = "requests_per_target needs alb_resource_label."
    }
  }
}
