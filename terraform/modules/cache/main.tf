locals {
  azs    = sort(keys(var.subnet_ids))
  family = "memcached1.6"

  # Node N goes to AZ N (mod the AZ count).
  preferred_availability_zones = [for i in range(var.num_cache_nodes) : local.azs[i % length(local.azs)]]

}

resource "aws_elasticache_subnet_group" "this" {
  name        = var.name
  description = "Subnets of the ${var.name} memcached cluster"
  subnet_ids  = [for az in local.azs : var.subnet_ids[az]]

  tags = var.tags
}

resource "aws_elasticache_parameter_group" "this" {
  name        = "${var.name}-${replace(local.family, ".", "-")}"
  family      = local.family
  description = "Parameters of the ${var.name} memcached cluster"

  dynamic "parameter" {
    for_each = var.parameters
    content {
      name  = parameter.key
      value = parameter.value
    }
  }

  tags = var.tags
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-memcached-"
  description = "Memcached ${var.name}: only the named application security groups"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-memcached" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "memcached" {
  for_each = var.allowed_security_group_ids

  security_group_id            = aws_security_group.this.id
  description                  = "memcached from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  referenced_security_group_id = each.value
}

resource "aws_elasticache_cluster" "this" {
  cluster_id           = var.name
  engine               = "memcached"
  engine_version       = var.engine_version
  node_type            = var.node_type
  num_cache_nodes      = var.num_cache_nodes
  port                 = var.port
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [aws_security_group.this.id]

  az_mode                      = "cross-az"
  preferred_availability_zones = local.preferred_availability_zones

  # TLS between clients and nodes; can only be set when the cluster is created.
  transit_encryption_enabled = true
  network_type               = "ipv4"

  maintenance_window = var.maintenance_window
  apply_immediately  = var.apply_immediately

  tags = var.tags
}
