mock_provider "aws" {
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555" }
  }
}

variables {
  name = "colonnade-test"
}

run "insights_exec_audit_and_service_connect" {
  command = plan

  assert {
    condition     = one([for s in aws_ecs_cluster.this.setting : s.value if s.name == "containerInsights"]) == "enabled"
    error_message = "Container Insights must be on."
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].execute_command_configuration[0].logging == "OVERRIDE"
    error_message = "ECS Exec sessions are logged to the encrypted audit group."
  }

  assert {
    condition     = aws_ecs_cluster.this.configuration[0].execute_command_configuration[0].log_configuration[0].cloud_watch_encryption_enabled
    error_message = "The exec audit log is encrypted."
  }

  assert {
    condition     = aws_cloudwatch_log_group.exec.retention_in_days == 365
    error_message = "Exec audit logs are kept a year by default."
  }

  assert {
    condition     = aws_service_discovery_http_namespace.this.name == "colonnade-test"
    error_message = "The Service Connect namespace is named after the cluster."
  }

  assert {
    condition     = aws_ecs_cluster_capacity_providers.this.capacity_providers == toset(["FARGATE", "FARGATE_SPOT"])
    error_message = "Both Fargate capacity providers are registered."
  }

  assert {
    condition     = length(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy) == 1
    error_message = "No Spot in the default strategy unless asked."
  }
}

run "spot_by_variable" {
  command = plan

  variables {
    fargate_spot_weight = 3
  }

  assert {
    condition     = length(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy) == 2
    error_message = "Spot joins the strategy."
  }

  assert {
    condition     = one([for s in output.capacity_provider_strategy : s.weight if s.capacity_provider == "FARGATE_SPOT"]) == 3 && one([for s in output.capacity_provider_strategy : s.base if s.capacity_provider == "FARGATE"]) == 1
    error_message = "The exported strategy keeps one on-demand task and weights Spot."
  }
}

run "rejects_fractional_spot_weight" {
  command = plan

  variables {
    fargate_spot_weight = 1.5
  }

  expect_failures = [var.fargate_spot_weight]
}
