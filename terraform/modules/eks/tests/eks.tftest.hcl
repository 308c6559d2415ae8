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
    gateway = {
      namespace            = "colonnade"
      service_account      = "gateway"
      secret_arns          = ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-test-gateway-AbCdEf"]
      secrets_kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/abc"]
    }
    catalog = { namespace = "colonnade", service_account = "catalog", db_user = "catalog" }
  }
  db_cluster_resource_id = "cluster-ABC"
  admin_principal_arns   = { platform = "arn:aws:iam::123456789012:role/colonnade-admin" }
  api_access_cidrs       = { vpn = "172.16.0.0/16" }
  target_group_arns      = ["arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/colonnade-test-catalog-grpc/abc"]
  load_balancer_ingress  = { catalog = { security_group_id = "sg-alb", port = 50051 } }
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

run "auto_mode_carries_traffic" {
  command = plan

  assert {
    condition     = aws_eks_cluster.this.compute_config[0].enabled && aws_eks_cluster.this.kubernetes_network_config[0].elastic_load_balancing[0].enabled && aws_eks_cluster.this.storage_config[0].block_storage[0].enabled
    error_message = "Auto Mode: compute, load balancing (TargetGroupBinding) and block storage capabilities together."
  }

  assert {
    condition     = !aws_eks_cluster.this.bootstrap_self_managed_addons && toset(keys(aws_eks_addon.this)) == toset(["metrics-server"])
    error_message = "Auto Mode runs the core components; metrics-server feeds the HPAs."
  }

  assert {
    condition     = toset(keys(aws_iam_role_policy_attachment.cluster)) == toset(["AmazonEKSClusterPolicy", "AmazonEKSComputePolicy", "AmazonEKSBlockStoragePolicy", "AmazonEKSLoadBalancingPolicy", "AmazonEKSNetworkingPolicy"])
    error_message = "The cluster role has every Auto Mode capability policy."
  }

  assert {
    condition     = strcontains(aws_iam_role_policy.target_groups[0].policy, "elasticloadbalancing:DeregisterTargets") && strcontains(aws_iam_role_policy.target_groups[0].policy, "colonnade-test-catalog-grpc")
    error_message = "The controller may register and deregister pods in exactly the given target groups."
  }

  assert {
    condition     = aws_vpc_security_group_ingress_rule.load_balancer["catalog"].from_port == 50051 && aws_vpc_security_group_ingress_rule.load_balancer["catalog"].referenced_security_group_id == "sg-alb"
    error_message = "The ALB reaches the pods on their port through the cluster security group."
  }

  assert {
    condition     = aws_eks_cluster.this.upgrade_policy[0].support_type == "STANDARD"
    error_message = "No silent extended-support billing."
  }

  assert {
    condition     = length(aws_eks_access_entry.admin) == 1 && aws_vpc_security_group_ingress_rule.api_access["vpn"].cidr_ipv4 == "172.16.0.0/16"
    error_message = "An admin, and a network that reaches the private endpoint."
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

  assert {
    condition     = keys(aws_iam_role_policy.service_secrets) == ["gateway"] && strcontains(aws_iam_role_policy.service_secrets["gateway"].policy, "secret:colonnade-test-gateway-AbCdEf") && strcontains(aws_iam_role_policy.service_secrets["gateway"].policy, "secretsmanager.eu-west-1.amazonaws.com")
    error_message = "Only services with secrets may read them: exactly their own, decrypted through Secrets Manager only."
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

run "nobody_could_administer_it" {
  command = plan

  variables {
    admin_principal_arns = {}
  }

  expect_failures = [aws_eks_cluster.this]
}

run "nobody_could_reach_the_api" {
  command = plan

  variables {
    api_access_cidrs = {}
  }

  expect_failures = [aws_eks_cluster.this]
}

run "core_components_are_not_add_ons" {
  command = plan

  variables {
    addons = { "vpc-cni" = null }
  }

  expect_failures = [var.addons]
}
