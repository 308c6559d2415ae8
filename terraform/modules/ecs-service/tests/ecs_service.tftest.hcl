mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_vpc" {
    defaults = { cidr_block = "10.0.0.0/16" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  name = "catalog"
  container_definition = {
    name        = "catalog"
    image       = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    command     = ["colonnade-catalog"]
    essential   = true
    user        = "10001:10001"
    secrets     = [{ name = "API_SIGNING_KEY", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf:key::" }]
    healthCheck = { command = ["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:50051"] }
  }
  image_repository_arn          = "arn:aws:ecr:eu-west-1:123456789012:repository/colonnade"
  secret_arns                   = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf"]
  name_prefix                   = "colonnade-test"
  cluster_arn                   = "arn:aws:ecs:eu-west-1:123456789012:cluster/colonnade-test"
  cluster_name                  = "colonnade-test"
  vpc_id                        = "vpc-123"
  subnet_ids                    = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  service_connect_namespace_arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-1"
  log_group_name                = "/colonnade-test/catalog"
  log_group_arn                 = "arn:aws:logs:eu-west-1:123456789012:log-group:/colonnade-test/catalog"
  db_iam_auth                   = { cluster_resource_id = "cluster-ABC", db_user = "catalog" }
  min_capacity                  = 3
  max_capacity                  = 9
}

override_resource {
  target          = aws_iam_role.execution
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/colonnade-test-catalog-exec-1" }
}

override_resource {
  target          = aws_iam_role.task
  override_during = plan
  values          = { arn = "arn:aws:iam::123456789012:role/colonnade-test-catalog-task-1" }
}

run "task_definition_runs_the_rendered_container" {
  command = plan

  # The container's own hardening (user, read-only root, capabilities, health
  # check command, logs) is the container-definition module's, tested there.
  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0] == jsondecode(jsonencode(var.container_definition))
    error_message = "The task definition holds exactly the container it was given."
  }

  assert {
    condition     = one(aws_ecs_task_definition.this.volume).name == "tmp" && aws_ecs_task_definition.this.network_mode == "awsvpc"
    error_message = "A /tmp task volume (the only writable path) and awsvpc networking."
  }

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "X86_64"
    error_message = "The default architecture is the one the release builds (x86_64)."
  }

  assert {
    condition     = aws_ecs_task_definition.this.execution_role_arn != aws_ecs_task_definition.this.task_role_arn
    error_message = "Separate execution and task roles."
  }
}

run "service_spread_rollback_and_discovery" {
  command = plan

  assert {
    condition     = aws_ecs_service.this[0].deployment_circuit_breaker[0].enable && aws_ecs_service.this[0].deployment_circuit_breaker[0].rollback
    error_message = "Deployment circuit breaker with rollback."
  }

  assert {
    condition     = length(aws_ecs_service.this[0].network_configuration[0].subnets) == 3 && !aws_ecs_service.this[0].network_configuration[0].assign_public_ip
    error_message = "Tasks spread over the three private subnets, no public IP."
  }

  assert {
    condition     = aws_ecs_service.this[0].availability_zone_rebalancing == "ENABLED"
    error_message = "AZ rebalancing keeps the spread."
  }

  assert {
    condition     = aws_ecs_service.this[0].service_connect_configuration[0].service[0].client_alias[0].dns_name == "catalog" && aws_ecs_service.this[0].service_connect_configuration[0].service[0].client_alias[0].port == 50051
    error_message = "The service is reachable as catalog:50051 through Service Connect."
  }

  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == 3 && aws_appautoscaling_target.this[0].max_capacity == 9
    error_message = "Autoscaling bounds come from the variables."
  }

  assert {
    condition     = aws_appautoscaling_policy.cpu[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
    error_message = "CPU target tracking."
  }

  assert {
    condition     = length(aws_appautoscaling_policy.requests) == 0
    error_message = "No request-count scaling without a target."
  }

  assert {
    condition     = length(aws_iam_role_policy.task) == 1
    error_message = "The task role may connect to Aurora with IAM auth."
  }
}

run "gateway_scales_on_alb_requests" {
  command = plan

  variables {
    name                 = "gateway"
    app_protocol         = "http"
    container_port       = 8080
    publish_in_namespace = false
    db_iam_auth          = null
    container_definition = { name = "gateway", image = "r/colonnade:1", command = ["colonnade-gateway"] }
    secret_arns          = []
    requests_per_target  = 500
    alb_resource_label   = "app/colonnade/abc/targetgroup/gw/def"
    load_balancers       = { http = { target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gw/def", container_port = 8080 } }
  }

  assert {
    condition     = aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget"
    error_message = "The gateway scales on ALB requests per target."
  }

  assert {
    condition     = length(aws_ecs_service.this[0].service_connect_configuration[0].service) == 0
    error_message = "The gateway is a Service Connect client only."
  }

  assert {
    condition     = aws_ecs_service.this[0].health_check_grace_period_seconds == 60
    error_message = "Behind a load balancer, new tasks get a health check grace period."
  }

  assert {
    condition     = length(aws_iam_role_policy.task) == 0
    error_message = "No database grant without db_iam_auth."
  }
}

run "refuses_a_container_named_otherwise" {
  command = plan

  variables {
    container_definition = { name = "orders", image = "r/colonnade:1" }
  }

  expect_failures = [aws_ecs_task_definition.this]
}

run "arm64_never_on_spot" {
  command = plan

  variables {
    cpu_architecture           = "ARM64"
    capacity_provider_strategy = [{ capacity_provider = "FARGATE", base = 1, weight = 1 }, { capacity_provider = "FARGATE_SPOT", base = 0, weight = 3 }]
  }

  expect_failures = [aws_ecs_service.this[0]]
}

run "arm64_on_demand_is_fine" {
  command = plan

  variables {
    cpu_architecture = "ARM64"
  }

  assert {
    condition     = aws_ecs_task_definition.this.runtime_platform[0].cpu_architecture == "ARM64"
    error_message = "ARM64 without Spot plans."
  }
}

run "one_shot_task_definition" {
  command = plan

  variables {
    name                 = "migrate"
    create_service       = false
    container_port       = null
    load_balancers       = {}
    ingress_cidr_blocks  = { vpc = "10.0.0.0/16" }
    db_iam_auth          = null
    container_definition = { name = "migrate", image = "r/colonnade:1", command = ["colonnade-migrate"], secrets = [{ name = "DB_ADMIN_SECRET", valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-x-AbCdEf" }] }
    secret_arns          = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-x-AbCdEf"]
    secrets_kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/abc"]
  }

  assert {
    condition     = length(aws_ecs_service.this) == 0 && length(aws_appautoscaling_target.this) == 0 && length(aws_appautoscaling_policy.cpu) == 0
    error_message = "No service and no autoscaling: ecs run-task starts it."
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.from_cidrs) == 0 && length(aws_vpc_security_group_ingress_rule.from_security_groups) == 0
    error_message = "A task without a port admits nothing."
  }

  assert {
    condition     = output.service_name == null && output.subnet_ids == ["subnet-a", "subnet-b", "subnet-c"]
    error_message = "run-task gets the subnets from the outputs."
  }
}

run "needs_three_azs" {
  command = plan

  variables {
    subnet_ids = { "eu-west-1a" = "subnet-a" }
  }

  expect_failures = [var.subnet_ids]
}
