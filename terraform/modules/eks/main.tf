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
# Control plane
################################################################################

resource "aws_iam_role" "cluster" {
  name_prefix = "${substr(var.name, 0, 24)}-eks-"
  description = "EKS control plane of ${var.name}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "eks.amazonaws.com" }
      Action    = ["sts:AssumeRole", "sts:TagSession"]
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonEKSClusterPolicy"
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

resource "aws_eks_cluster" "this" {
  name     = var.name
  version  = var.kubernetes_version
  role_arn = aws_iam_role.cluster.arn

  enabled_cluster_log_types = local.log_types

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

################################################################################
# Managed node groups: one per AZ so the autoscaler keeps the zones balanced
################################################################################

resource "aws_iam_role" "node" {
  name_prefix = "${substr(var.name, 0, 24)}-node-"
  description = "EKS nodes of ${var.name}"
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
  for_each = toset(["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonEKS_CNI_Policy"])

  role       = aws_iam_role.node.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/${each.key}"
}

resource "aws_launch_template" "node" {
  name_prefix            = "${var.name}-node-"
  description            = "EKS nodes of ${var.name}: IMDSv2 only, encrypted root volume"
  update_default_version = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_size           = var.node_disk_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-node" })
  }

  tags = var.tags
}

resource "aws_eks_node_group" "this" {
  for_each = var.subnet_ids

  cluster_name           = aws_eks_cluster.this.name
  node_group_name_prefix = "${var.name}-${each.key}-"
  node_role_arn          = aws_iam_role.node.arn
  subnet_ids             = [each.value]
  ami_type               = var.ami_type
  capacity_type          = var.capacity_type
  instance_types         = var.instance_types

  launch_template {
    id      = aws_launch_template.node.id
    version = aws_launch_template.node.latest_version
  }

  scaling_config {
    min_size     = var.nodes_per_az.min
    desired_size = var.nodes_per_az.desired
    max_size     = var.nodes_per_az.max
  }

  update_config {
    max_unavailable = 1
  }

  labels = { "colonnade.io/zone" = each.key }

  tags = merge(var.tags, { "k8s.io/cluster-autoscaler/enabled" = "true", "k8s.io/cluster-autoscaler/${var.name}" = "owned" })

  depends_on = [aws_iam_role_policy_attachment.node]

  lifecycle {
    create_before_destroy = true
    # The cluster autoscaler owns the node count after creation.
    ignore_changes = [scaling_config[0].desired_size]
  }
}

################################################################################
# Add-ons
################################################################################

resource "aws_eks_addon" "this" {
  for_each = var.addons

  cluster_name                = aws_eks_cluster.this.name
  addon_name                  = each.key
  addon_version               = each.value
  resolve_conflicts_on_create = "OVERWRITE"
  resolve_conflicts_on_update = "OVERWRITE"

  tags = var.tags

  # coredns needs nodes to become active; the others do not.
  depends_on = [aws_eks_node_group.this]
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

resource "aws_eks_pod_identity_association" "service" {
  for_each = var.service_accounts

  cluster_name    = aws_eks_cluster.this.name
  namespace       = each.value.namespace
  service_account = each.value.service_account
  role_arn        = aws_iam_role.service[each.key].arn

  tags = var.tags

  depends_on = [aws_eks_addon.this]
}
