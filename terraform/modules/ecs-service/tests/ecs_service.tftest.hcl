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
  name                          = "catalog"
  name_prefix                   = "colonnade-test"
  cluster_arn                   = "arn:aws:ecs:eu-west-1:123456789012:cluster/colonnade-test"
  cluster_name                  = "colonnade-test"
  vpc_id                        = "vpc-123"
  subnet_ids                    = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  image_repository_url          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade/catalog"
  image_tag                     = "1.2.3"
  service_connect_namespace_arn = "arn:aws:servicediscovery:eu-west-1:123456789012:namespace/ns-1"
  log_group_name                = "/colonnade-test/catalog"
  log_group_arn                 = "arn:aws:logs:eu-west-1:123456789012:log-group:/colonnade-test/catalog"
  secrets                       = { API_SIGNING_KEY = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf:key::" }
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

run "hardened_task_definition" {
  command = plan

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].image == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade/catalog:1.2.3"
    error_message = "The image is repository:tag from the variables."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "Read-only root filesystem."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].user == "10001:10001"
    error_message = "The container runs as a non-root user."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"]
    error_message = "Every capability is dropped."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].logConfiguration.logDriver == "awslogs"
    error_message = "Logs go to CloudWatch."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].secrets[0].valueFrom == var.secrets.API_SIGNING_KEY
    error_message = "Secrets come from Secrets Manager, not the environment."
  }

  assert {
    condition     = strcontains(join(" ", jsondecode(aws_ecs_task_definition.this.container_definitions)[0].healthCheck.command), "grpc_health")
    error_message = "gRPC services are health-checked with grpc.health.v1."
  }

  assert {
    condition     = jsondecode(aws_ecs_task_definition.this.container_definitions)[0].portMappings[0].appProtocol == "grpc"
    error_message = "The port is declared as gRPC for Service Connect."
  }

  assert {
    condition     = aws_ecs_task_definition.this.execution_role_arn != aws_ecs_task_definition.this.task_role_arn
    error_message = "Separate execution and task roles."
  }
}

run "service_spread_rollback_and_discovery" {
  command = plan

  assert {
    condition     = aws_ecs_service.this.deployment_circuit_breaker[0].enable && aws_ecs_service.this.deployment_circuit_breaker[0].rollback
    error_message = "Deployment circuit breaker with rollback."
  }

  assert {
    condition     = length(aws_ecs_service.this.network_configuration[0].subnets) == 3 && !aws_ecs_service.this.network_configuration[0].assign_public_ip
    error_message = "Tasks spread over the three private subnets, no public IP."
  }

  assert {
    condition     = aws_ecs_service.this.availability_zone_rebalancing == "ENABLED"
    error_message = "AZ rebalancing keeps the spread."
  }

  assert {
    condition     = aws_ecs_service.this.service_connect_configuration[0].service[0].client_alias[0].dns_name == "catalog" && aws_ecs_service.this.service_connect_configuration[0].service[0].client_alias[0].port == 50051
    error_message = "The service is reachable as catalog:50051 through Service Connect."
  }

  assert {
    condition     = aws_appautoscaling_target.this.min_capacity == 3 && aws_appautoscaling_target.this.max_capacity == 9
    error_message = "Autoscaling bounds come from the variables."
  }

  assert {
    condition     = aws_appautoscaling_policy.cpu.target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ECSServiceAverageCPUUtilization"
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
    secrets              = {}
    requests_per_target  = 500
    alb_resource_label   = "app/colonnade/abc/targetgroup/gw/def"
    load_balancers       = { http = { target_group_arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/gw/def", container_port = 8080 } }
  }

  assert {
    condition     = aws_appautoscaling_policy.requests[0].target_tracking_scaling_policy_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ALBRequestCountPerTarget"
    error_message = "The gateway scales on ALB requests per target."
  }

  assert {
    condition     = length(aws_ecs_service.this.service_connect_configuration[0].service) == 0
    error_message = "The gateway is a Service Connect client only."
  }

  assert {
    condition     = aws_ecs_service.this.health_check_grace_period_seconds == 60
    error_message = "Behind a load balancer, new tasks get a health check grace period."
  }

  assert {
    condition     = length(aws_iam_role_policy.task) == 0
    error_message = "No database grant without db_iam_auth."
  }
}

run "refuses_latest_and_tagged_urls" {
  command = plan

  variables {
    image_tag            = "latest"
    image_repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade/catalog:1.0"
  }

  expect_failures = [var.image_tag, var.image_repository_url]
}

run "needs_three_azs" {
  command = plan

  variables {
    subnet_ids = { "eu-west-1a" = "subnet-a" }
  }

  expect_failures = [var.subnet_ids]
}
