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
  mock_data "aws_elb_service_account" {
    defaults = { arn = "arn:aws:iam::156460612806:root" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

override_resource {
  target          = module.ecr.aws_ecr_repository.this
  override_during = plan
  values          = { repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade/catalog" }
}

variables {
  environment         = "dev"
  availability_zones  = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
  nat_gateway_mode    = "single"
  image_tags          = { gateway = "1.0.0", catalog = "1.0.0", orders = "1.0.0" }
  certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
  deletion_protection = false
  openapi_body        = file("../api-gateway/tests/fixtures/openapi.json")
  aurora              = { min_capacity = 0, max_capacity = 4 }
  cache               = { node_type = "cache.t4g.micro", num_cache_nodes = 2 }
}

run "ecs_compute" {
  command = plan

  assert {
    condition     = length(module.ecs_service) == 3 && length(module.ecs_cluster) == 1 && length(module.eks) == 0
    error_message = "compute = ecs: a cluster and the three services, no EKS."
  }

  assert {
    condition     = endswith(module.ecs_service["catalog"].image, "/colonnade/catalog:1.0.0")
    error_message = "Each service runs its image_tags entry from its ECR repository."
  }

  assert {
    condition     = local.subnets["eu-west-1b"].private == "10.0.32.0/20" && local.subnets["eu-west-1c"].database == "10.0.10.0/24"
    error_message = "Subnets are carved per AZ position."
  }
}

run "eks_compute" {
  command = plan

  variables {
    compute = "eks"
  }

  assert {
    condition     = length(module.ecs_service) == 0 && length(module.ecs_cluster) == 0 && length(module.eks) == 1
    error_message = "compute = eks: the EKS cluster instead of ECS."
  }

  assert {
    condition     = output.ecs_cluster_name == null
    error_message = "No ECS cluster output under EKS."
  }
}

run "rejects_unknown_compute_and_missing_tags" {
  command = plan

  variables {
    compute    = "lambda"
    image_tags = { gateway = "1.0.0" }
  }

  expect_failures = [var.compute, var.image_tags]
}
