# Unit tests of the memcached module's logic with a mocked AWS provider.

mock_provider "aws" {}

variables {
  name   = "colonnade-test"
  vpc_id = "vpc-0123456789abcdef0"
  subnet_ids = {
    "eu-west-1a" = "subnet-0a"
    "eu-west-1b" = "subnet-0b"
    "eu-west-1c" = "subnet-0c"
  }
  allowed_security_group_ids = { catalog = "sg-0catalog" }
}

run "nodes_spread_over_azs_with_tls" {
  command = plan

  assert {
    condition     = aws_elasticache_cluster.this.engine == "memcached" && aws_elasticache_cluster.this.az_mode == "cross-az"
    error_message = "memcached must run cross-az"
  }
  assert {
    condition     = aws_elasticache_cluster.this.transit_encryption_enabled
    error_message = "in-transit encryption must be on"
  }
  assert {
    condition     = aws_elasticache_cluster.this.num_cache_nodes == 3 && length(toset(aws_elasticache_cluster.this.preferred_availability_zones)) == 3
    error_message = "three nodes in three distinct AZs"
  }
  assert {
    condition     = aws_elasticache_parameter_group.this.family == "memcached1.6" && aws_elasticache_cluster.this.parameter_group_name == aws_elasticache_parameter_group.this.name
    error_message = "the cluster uses the module's memcached1.6 parameter group"
  }
  assert {
    condition     = aws_elasticache_subnet_group.this.subnet_ids == toset(["subnet-0a", "subnet-0b", "subnet-0c"])
    error_message = "the subnet group covers the given subnets"
  }
}

run "only_named_security_groups_are_admitted" {
  command = plan

  assert {
    condition     = keys(aws_vpc_security_group_ingress_rule.memcached) == ["catalog"] && aws_vpc_security_group_ingress_rule.memcached["catalog"].referenced_security_group_id == "sg-0catalog"
    error_message = "only the named security group may reach memcached"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.memcached["catalog"].cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.memcached["catalog"].from_port == 11211
    error_message = "no CIDR ingress; port 11211"
  }
}

run "more_nodes_than_azs_wrap_round" {
  command = plan

  variables {
    num_cache_nodes = 5
  }

  assert {
    condition     = aws_elasticache_cluster.this.preferred_availability_zones == tolist(["eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1a", "eu-west-1b"])
    error_message = "nodes must be assigned to AZs round-robin"
  }
}

run "engine_without_tls_is_refused" {
  command = plan

  variables {
    engine_version = "1.6.6"
  }

  expect_failures = [var.engine_version]
}

run "single_node_is_refused" {
  command = plan

  variables {
    num_cache_nodes = 1
  }

  expect_failures = [var.num_cache_nodes]
}

run "node_family_without_tls_is_refused" {
  command = plan

  variables {
    node_type = "cache.t2.micro"
  }

  expect_failures = [var.node_type]
}

run "graviton_3_nodes_support_tls" {
  command = plan

  variables {
    node_type = "cache.m7g.large"
  }

  assert {
    condition     = aws_elasticache_cluster.this.node_type == "cache.m7g.large" && aws_elasticache_cluster.this.transit_encryption_enabled
    error_message = "m7g is not on ElastiCache's list of families without in-transit encryption."
  }
}
