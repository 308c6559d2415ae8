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
}

variables {
  name       = "colonnade-test"
  vpc_id     = "vpc-123"
  subnet_ids = { "eu-west-1a" = "subnet-a", "eu-west-1b" = "subnet-b", "eu-west-1c" = "subnet-c" }
  service_accounts = {
    gateway = { namespace = "colonnade", service_account = "gateway" }
    catalog = { namespace = "colonnade", service_account = "catalog", db_user = "catalog" }
  }
  db_cluster_resource_id = "cluster-ABC"
}

run "private_logged_encrypted_control_plane" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.vpc_config[0].endpoint_private_access && !aws_eks_cluster.this.vpc_config[0].endpoint_public_access
    error_message = "Private endpoint only by default."
  }

  assert {
    condition     = length(aws_eks_cluster.this.enabled_cluster_log_types) == 5
    error_message = "All five control-plane log types."
  }

  assert {
    condition     = one(aws_eks_cluster.this.encryption_config[0].resources) == "secrets"
    error_message = "Kubernetes secrets are envelope-encrypted with KMS."
  }

  assert {
    condition     = aws_eks_cluster.this.access_config[0].authentication_mode == "API" && !aws_eks_cluster.this.access_config[0].bootstrap_cluster_creator_admin_permissions
    error_message = "Access entries only; no implicit creator admin."
  }
}

run "node_groups_per_az_with_imdsv2" {
  command = plan

  assert {
    condition     = length(aws_eks_node_group.this) == 3 && alltrue([for az, g in aws_eks_node_group.this : length(g.subnet_ids) == 1])
    error_message = "One managed node group per AZ."
  }

  assert {
    condition     = aws_launch_template.node.metadata_options[0].http_tokens == "required"
    error_message = "Nodes require IMDSv2."
  }

  assert {
    condition     = aws_launch_template.node.block_device_mappings[0].ebs[0].encrypted == "true"
    error_message = "Node volumes are encrypted."
  }

  assert {
    condition     = toset(keys(aws_eks_addon.this)) == toset(["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"])
    error_message = "Core add-ons and the pod identity agent."
  }
}

run "pod_identities" {
  command = plan

  assert {
    condition     = length(aws_eks_pod_identity_association.service) == 2 && aws_eks_pod_identity_association.service["catalog"].service_account == "catalog"
    error_message = "One pod identity per service account."
  }

  assert {
    condition     = length(aws_iam_role_policy.service_db) == 1 && strcontains(aws_iam_role_policy.service_db["catalog"].policy, "dbuser:cluster-ABC/catalog")
    error_message = "Only services with a database user may connect, as that user."
  }
}

run "public_endpoint_needs_cidrs" {
  command = plan

  variables {
    endpoint_public_access = true
  }

  expect_failures = [aws_eks_cluster.this]
}

run "refuses_open_public_endpoint" {
  command = plan

  variables {
    endpoint_public_access = true
    public_access_cidrs    = ["0.0.0.0/0"]
  }

  expect_failures = [var.public_access_cidrs]
}
