data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  partition   = data.aws_partition.current.partition
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
  subnet_list = [for az in sort(keys(var.subnet_ids)) : var.subnet_ids[az]]
  log_types   = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
}

################################################################################
# KMS: Kubernetes secrets envelope encryption and control-plane logs
################################################################################

resource "aws_kms_key" "this" {
  description         = "${var.name} EKS secrets and control-plane logs"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/eks/${var.name}/*" }
        }
      },
    ]
  })

  tags = var.tags
}

# Created before the cluster so Terraform, not EKS, owns its retention.
resource "aws_cloudwatch_log_group" "cluster" {
  name              = "/aws/eks/${var.name}/cluster"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn

  tags = var.tags
}

################################################################################
# Control plane, with EKS Auto Mode: AWS runs the nodes (Karpenter node pools),
# the VPC CNI, CoreDNS, kube-proxy, the pod identity agent, block storage and
# a load balancer controller whose TargetGroupBinding (eks.amazonaws.com/v1)
# registers pods in the ALB's target groups. Everything stays within the
# hashicorp/aws provider: no Helm release, no controller to install.
################################################################################

resource "aws_iam_role" "cluster" {
  name_prefix = "${substr(var.name, 0, 24)}-eks-"
  description = "EKS control plane and Auto Mode capabilities of ${var.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      # Auto Mode tags the sessions it starts with the cluster name.
      Action = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })

  tags = var.tags
}

# The cluster role of an Auto Mode cluster: the control plane plus its compute,
# block storage, load balancing and networking capabilities.
resource "aws_iam_role_policy_attachment" "cluster" {
  for_each = toset([
    "AmazonEKSClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
  ])

  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

# The load balancer capability registers and deregisters pods in target
# groups that Terraform made (TargetGroupBinding). AmazonEKSLoadBalancingPolicy
# is written for the groups it creates itself: grant exactly these.
resource "aws_iam_role_policy" "target_groups" {
  count = length(var.target_group_arns) > 0 ? 1 : 0

  name = "bind-terraform-target-groups"
  role = aws_iam_role.cluster.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
      Resource = var.target_group_arns
    }]
  })
}

resource "aws_security_group" "cluster" {
  name_prefix = "${var.name}-eks-"
  description = "Additional security group of the ${var.name} EKS control plane"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-eks" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "cluster_api" {
  security_group_id = aws_security_group.cluster.id
  description       = "Kubernetes API from inside the VPC (private endpoint)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = data.aws_vpc.this.cidr_block
}

# Networks that reach the VPC (VPN, Direct Connect, peering) and may use the
# private endpoint: without one of these or a public endpoint, nobody can
# run kubectl (there is no bastion).
resource "aws_vpc_security_group_ingress_rule" "api_access" {
  for_each = var.api_access_cidrs

  security_group_id = aws_security_group.cluster.id
  description       = "Kubernetes API from ${each.key}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = local.log_types

  # Auto Mode installs and manages the networking and DNS components itself.
  bootstrap_self_managed_addons = false

  compute_config {
    enabled       = true
    node_pools    = var.node_pools
    node_role_arn = aws_iam_role.node.arn
  }

  kubernetes_network_config {
    elastic_load_balancing {
      enabled = true
    }
  }

  storage_config {
    block_storage {
      enabled = true
    }
  }

  vpc_config {
    subnet_ids              = local.subnet_list
    security_group_ids      = [aws_security_group.cluster.id]
    endpoint_private_access = true
    endpoint_public_access  = var.endpoint_public_access
    public_access_cidrs     = var.endpoint_public_access ? var.public_access_cidrs : null
  }

  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.this.arn
    }
  }

  access_config {
    authentication_mode                         = "API"
    bootstrap_cluster_creator_admin_permissions = false
  }

  # Standard support only: a version past it moves to extended support,
  # billed at a higher hourly rate, unless it is upgraded.
  upgrade_policy {
    support_type = "STANDARD"
  }

  zonal_shift_config {
    enabled = true
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.cluster]

  lifecycle {
    precondition {
      condition     = !var.endpoint_public_access || length(var.public_access_cidrs) > 0
      error_message = "A public endpoint needs public_access_cidrs."
    }

    precondition {
      condition     = var.endpoint_public_access || length(var.api_access_cidrs) > 0
      error_message = "Nobody could reach the Kubernetes API: the endpoint is private and no api_access_cidrs (VPN, Direct Connect or peered networks) are allowed to it."
    }

    precondition {
      condition     = length(var.admin_principal_arns) > 0
      error_message = "admin_principal_arns is empty: with API authentication and no creator admin, nobody could administer the cluster."
    }
  }
}

resource "aws_eks_access_entry" "admin" {
  for_each = var.admin_principal_arns

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = each.value
  type          = "STANDARD"

  tags = var.tags
}

resource "aws_eks_access_policy_association" "admin" {
  for_each = var.admin_principal_arns

  cluster_name  = aws_eks_cluster.this.name
  principal_arn = aws_eks_access_entry.admin[each.key].principal_arn
  policy_arn    = "arn:${local.partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"

  access_scope {
    type = "cluster"
  }
}

# Auto Mode nodes and pods use the cluster security group EKS creates; the
# ALB reaches the pods (ip targets) on the services' ports through it.
resource "aws_vpc_security_group_ingress_rule" "load_balancer" {
  for_each = var.load_balancer_ingress

  security_group_id            = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  description                  = "${each.key} from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = each.value.security_group_id
}

################################################################################
# Node role of the Auto Mode node pools
################################################################################

resource "aws_iam_role" "node" {
  name_prefix = "${substr(var.name, 0, 24)}-node-"
  description = "EKS Auto Mode nodes of ${var.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "node" {
  for_each = toset(["AmazonEKSWorkerNodeMinimalPolicy", "AmazonEC2ContainerRegistryPullOnly"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

################################################################################
# Add-ons beyond what Auto Mode runs: metrics-server, so the services'
# HorizontalPodAutoscalers have CPU metrics (EKS community add-on).
################################################################################

resource "aws_eks_addon" "this" {
  for_each = var.addons

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  tags = var.tags
}

################################################################################
# Pod identities of the services
################################################################################

resource "aws_iam_role" "service" {
  for_each = var.service_accounts

  name_prefix = "${substr(var.name, 0, 20)}-${substr(each.key, 0, 10)}-pod-"
  description = "Pod identity of ${each.value.namespace}/${each.value.service_account} in ${var.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "pods.eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        # Only this cluster's pod identity agent may assume it.
        ArnEquals = { "aws:SourceArn" = "arn:${local.partition}:eks:${local.region}:${local.account_id}:cluster/${var.name}" }
      }
    }]
  })

  tags = merge(var.tags, { Service = each.key })
}

resource "aws_iam_role_policy" "service_db" {
  # Keyed on the static db_user only: the cluster resource ID is unknown until the cluster exists.
  for_each = { for k, s in var.service_accounts : k => s if s.db_user != null }

  name = "connect-to-aurora-with-iam"
  role = aws_iam_role.service[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "rds-db:connect"
      Resource = "arn:${local.partition}:rds-db:${local.region}:${local.account_id}:dbuser:${var.db_cluster_resource_id}/${each.value.db_user}"
    }]
  })

  lifecycle {
    precondition {
      condition     = var.db_cluster_resource_id != null
      error_message = "service_accounts with db_user need db_cluster_resource_id."
    }
  }
}

# The Secrets Manager secrets a service's container reads (ECS injects them; on EKS the Secrets
# Store CSI driver's AWS provider fetches them with the pod's own identity, usePodIdentity):
# exactly the secrets its task definition names, decrypted only through Secrets Manager.
resource "aws_iam_role_policy" "service_secrets" {
  # Keyed on static names: the ARNs are unknown until the secrets exist.
  for_each = { for k, s in var.service_accounts : k => s if length(s.secret_arns) > 0 }

  name = "read-own-secrets"
  role = aws_iam_role.service[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "ReadOwnSecrets"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
        Resource = each.value.secret_arns
      }],
      length(each.value.secrets_kms_key_arns) > 0 ? [{
        Sid       = "DecryptSecrets"
        Effect    = "Allow"
        Action    = "kms:Decrypt"
        Resource  = each.value.secrets_kms_key_arns
        Condition = { StringEquals = { "kms:ViaService" = "secretsmanager.${local.region}.amazonaws.com" } }
      }] : [],
    )
  })
}

resource "aws_eks_pod_identity_association" "service" {
  for_each = var.service_accounts

  cluster_name    = aws_eks_cluster.this.name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = aws_iam_role.service[each.key].arn

  tags = var.tags
}
