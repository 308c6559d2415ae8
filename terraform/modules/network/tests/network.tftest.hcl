# Unit tests of the network module's logic with a mocked AWS provider: no
# credentials, no network. `terraform test` from the module directory.

mock_provider "aws" {
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  # Computed ARNs must look like ARNs: the provider validates them where they are used.
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/vpc/colonnade-test/flow-logs" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/colonnade-test-flow-logs" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000" }
  }
}

variables {
  name = "colonnade-test"
  subnets = {
    "eu-west-1a" = { public = "10.0.0.0/24", private = "10.0.16.0/20", database = "10.0.8.0/24" }
    "eu-west-1b" = { public = "10.0.1.0/24", private = "10.0.32.0/20", database = "10.0.9.0/24" }
    "eu-west-1c" = { public = "10.0.2.0/24", private = "10.0.48.0/20", database = "10.0.10.0/24" }
  }
}

run "per_az_nat_gives_each_az_its_own_egress" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3 && length(aws_subnet.database) == 3
    error_message = "three AZs must give three subnets of each tier"
  }
  assert {
    condition     = toset([for s in aws_subnet.private : s.availability_zone]) == toset(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "private subnets must sit in the three AZs"
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "per_az must create one NAT gateway per AZ"
  }
  assert {
    condition     = alltrue([for az, r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this[az].id])
    error_message = "each AZ's private route table must use the NAT gateway of the same AZ"
  }
  assert {
    condition     = alltrue([for az, n in aws_nat_gateway.this : n.subnet_id == aws_subnet.public[az].id])
    error_message = "each NAT gateway must sit in the public subnet of its AZ"
  }
  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "public subnets must not hand out public IPs on launch"
  }
  assert {
    condition     = output.azs == tolist(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    error_message = "azs output must list the AZs in order"
  }
}

run "database_subnets_have_no_route_out" {
  command = plan

  assert {
    condition     = alltrue([for a in aws_route_table_association.database : a.route_table_id == aws_route_table.database.id])
    error_message = "database subnets must use the database route table"
  }
  assert {
    condition     = length([for r in [aws_route.public_internet] : r if r.route_table_id == aws_route_table.database.id]) == 0
    error_message = "the database route table must have no internet route"
  }
}

run "single_nat_serves_every_az" {
  command = apply

  variables {
    nat_gateway_mode = "single"
  }

  assert {
    condition     = keys(aws_nat_gateway.this) == ["eu-west-1a"]
    error_message = "single mode must create one NAT gateway, in the first AZ"
  }
  assert {
    condition     = length(aws_route.private_nat) == 3 && alltrue([for r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this["eu-west-1a"].id])
    error_message = "every private route table must use the single NAT gateway"
  }
}

run "single_nat_az_can_be_pinned" {
  command = plan

  variables {
    nat_gateway_mode      = "single"
    single_nat_gateway_az = "eu-west-1c"
  }

  assert {
    condition     = keys(aws_nat_gateway.this) == ["eu-west-1c"]
    error_message = "single_nat_gateway_az must choose the NAT gateway's AZ"
  }
}

run "no_nat" {
  command = plan

  variables {
    nat_gateway_mode = "none"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && length(aws_eip.nat) == 0 && length(aws_route.private_nat) == 0
    error_message = "none must create no NAT gateway, EIP or default route"
  }
}

run "endpoints_and_flow_logs" {
  command = plan

  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"])
    error_message = "the default interface endpoints are ECR (api, dkr), Logs, Secrets Manager and STS"
  }
  assert {
    condition     = aws_vpc_endpoint.interface["sts"].service_name == "com.amazonaws.eu-west-1.sts" && aws_vpc_endpoint.interface["sts"].private_dns_enabled
    error_message = "interface endpoints must use the region's service name with private DNS"
  }
  assert {
    condition     = aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway"
    error_message = "S3 must use a gateway endpoint"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.endpoints_https.from_port == 443 && aws_vpc_security_group_ingress_rule.endpoints_https.cidr_ipv4 == "10.0.0.0/16"
    error_message = "endpoints must admit HTTPS from the VPC only"
  }
  assert {
    condition     = aws_flow_log.this[0].traffic_type == "ALL" && aws_cloudwatch_log_group.flow_logs[0].retention_in_days == 365
    error_message = "flow logs must capture all traffic and keep it a year"
  }
  assert {
    condition     = aws_vpc.this.enable_dns_support && aws_vpc.this.enable_dns_hostnames
    error_message = "DNS support and hostnames must be on (private DNS of the endpoints)"
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group must have no rules"
  }
}

run "flow_logs_can_be_disabled" {
  command = plan

  variables {
    enable_flow_logs = false
  }

  assert {
    condition     = length(aws_flow_log.this) == 0 && length(aws_kms_key.flow_logs) == 0 && output.flow_log_group_name == null
    error_message = "disabling flow logs must remove the log, its group and its key"
  }
}

run "rejects_two_azs" {
  command = plan

  variables {
    subnets = {
      "eu-west-1a" = { public = "10.0.0.0/24", private = "10.0.16.0/20", database = "10.0.8.0/24" }
      "eu-west-1b" = { public = "10.0.1.0/24", private = "10.0.32.0/20", database = "10.0.9.0/24" }
    }
  }

  expect_failures = [var.subnets]
}

run "rejects_duplicate_cidrs" {
  command = plan

  variables {
    subnets = {
      "eu-west-1a" = { public = "10.0.0.0/24", private = "10.0.16.0/20", database = "10.0.8.0/24" }
      "eu-west-1b" = { public = "10.0.0.0/24", private = "10.0.32.0/20", database = "10.0.9.0/24" }
      "eu-west-1c" = { public = "10.0.2.0/24", private = "10.0.48.0/20", database = "10.0.10.0/24" }
    }
  }

  expect_failures = [var.subnets]
}

run "rejects_unknown_nat_mode" {
  command = plan

  variables {
    nat_gateway_mode = "regional"
  }

  expect_failures = [var.nat_gateway_mode]
}
