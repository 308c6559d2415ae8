# Unit tests of the Aurora module's logic with a mocked AWS provider.

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
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::111122223333:role/colonnade-test-rds-monitoring" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/rds/cluster/colonnade-test/postgresql" }
  }
  mock_resource "aws_rds_cluster" {
    defaults = {
      arn                = "arn:aws:rds:eu-west-1:111122223333:cluster:colonnade-test"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:rds!cluster-0000", kms_key_id = "k", secret_status = "active" }]
    }
  }
}

# terraform_data is built in, not mocked: pin the UUID it draws at creation.
override_resource {
  target          = terraform_data.final_snapshot_suffix
  override_during = plan
  values          = { id = "5f1d2c3b-0000-4000-8000-000000000000" }
}

variables {
  name        = "colonnade-test"
  environment = "prod"
  vpc_id      = "vpc-0123456789abcdef0"
  subnet_ids = {
    "eu-west-1a" = "subnet-0a"
    "eu-west-1b" = "subnet-0b"
    "eu-west-1c" = "subnet-0c"
  }
  allowed_security_group_ids = {
    catalog = "sg-0catalog"
    orders  = "sg-0orders"
  }
}

run "prod_defaults_are_safe" {
  command = apply

  assert {
    condition     = aws_rds_cluster.this.deletion_protection && !aws_rds_cluster.this.skip_final_snapshot && aws_rds_cluster.this.final_snapshot_identifier == "colonnade-test-final-5f1d2c3b"
    error_message = "prod must have deletion protection and a final snapshot"
  }
  assert {
    condition     = aws_rds_cluster.this.backup_retention_period == 35
    error_message = "prod keeps 35 days of point-in-time recovery"
  }
  assert {
    condition     = aws_rds_cluster.this.iam_database_authentication_enabled && aws_rds_cluster.this.storage_encrypted && aws_rds_cluster.this.kms_key_id == aws_kms_key.this[0].arn
    error_message = "IAM auth and storage encryption with the module's CMK must be on"
  }
  assert {
    condition     = aws_rds_cluster.this.manage_master_user_password && aws_rds_cluster.this.master_password == null && aws_rds_cluster.this.master_user_secret_kms_key_id == aws_kms_key.this[0].arn
    error_message = "the master password must be RDS-managed in Secrets Manager, never passed in"
  }
  assert {
    condition     = aws_rds_cluster.this.engine == "aurora-postgresql" && aws_rds_cluster.this.engine_version == "16" && aws_rds_cluster.this.engine_mode == "provisioned"
    error_message = "engine_version must carry the major version only"
  }
  assert {
    # With a minimum above 0 ACU the cluster cannot pause; seconds_until_auto_pause
    # is left to the API (optional + computed, so whatever it returns is no drift).
    condition     = aws_rds_cluster.this.serverlessv2_scaling_configuration[0].min_capacity == 0.5 && aws_rds_cluster.this.serverlessv2_scaling_configuration[0].max_capacity == 8
    error_message = "prod must not scale to zero"
  }
  assert {
    condition     = length(aws_rds_cluster_instance.this) == 3 && length(toset([for i in aws_rds_cluster_instance.this : i.availability_zone])) == 3
    error_message = "prod runs a writer and two readers in three distinct AZs"
  }
  assert {
    condition     = alltrue([for i in aws_rds_cluster_instance.this : i.instance_class == "db.serverless" && i.performance_insights_enabled && i.auto_minor_version_upgrade && !i.publicly_accessible && i.monitoring_interval == 60])
    error_message = "instances: Serverless v2, Performance Insights, minor auto-upgrades, private, enhanced monitoring"
  }
  assert {
    condition     = aws_secretsmanager_secret_rotation.master[0].rotation_rules[0].automatically_after_days == 30 && aws_secretsmanager_secret_rotation.master[0].rotate_immediately == false
    error_message = "master secret rotation must be explicit (30 days) and never triggered by an apply"
  }
  assert {
    condition     = contains([for p in aws_rds_cluster_parameter_group.this.parameter : "${p.name}=${p.value}"], "rds.force_ssl=1") && aws_rds_cluster_parameter_group.this.family == "aurora-postgresql16"
    error_message = "the cluster parameter group must require TLS"
  }
  assert {
    condition     = aws_rds_cluster.this.enabled_cloudwatch_logs_exports == toset(["postgresql"]) && aws_cloudwatch_log_group.postgresql.kms_key_id == aws_kms_key.this[0].arn
    error_message = "PostgreSQL logs go to an encrypted log group"
  }
}

run "only_named_security_groups_are_admitted" {
  command = plan

  assert {
    condition     = toset(keys(aws_vpc_security_group_ingress_rule.postgres)) == toset(["catalog", "orders"])
    error_message = "one ingress rule per named application security group"
  }
  assert {
    condition     = alltrue([for r in aws_vpc_security_group_ingress_rule.postgres : r.cidr_ipv4 == null && r.from_port == 5432 && r.to_port == 5432])
    error_message = "ingress must reference security groups on 5432, never a CIDR"
  }
}

run "dev_relaxes_cost_settings_and_may_scale_to_zero" {
  command = plan

  variables {
    environment  = "dev"
    min_capacity = 0
  }

  assert {
    condition     = !aws_rds_cluster.this.deletion_protection && aws_rds_cluster.this.skip_final_snapshot && aws_rds_cluster.this.final_snapshot_identifier == null
    error_message = "dev drops deletion protection and the final snapshot"
  }
  assert {
    condition     = aws_rds_cluster.this.backup_retention_period == 3 && length(aws_rds_cluster_instance.this) == 1
    error_message = "dev keeps 3 days of backups and one instance"
  }
  assert {
    condition     = aws_rds_cluster.this.serverlessv2_scaling_configuration[0].min_capacity == 0 && aws_rds_cluster.this.serverlessv2_scaling_configuration[0].seconds_until_auto_pause == 3600
    error_message = "dev may pause after an hour idle"
  }
  assert {
    condition     = aws_rds_cluster.this.iam_database_authentication_enabled && aws_rds_cluster.this.storage_encrypted
    error_message = "encryption and IAM auth stay on in dev"
  }
}

run "staging_defaults" {
  command = plan

  variables {
    environment = "staging"
  }

  assert {
    condition     = aws_rds_cluster.this.deletion_protection && aws_rds_cluster.this.backup_retention_period == 14 && length(aws_rds_cluster_instance.this) == 2
    error_message = "staging: deletion protection, 14 days of backups, writer + one reader"
  }
  assert {
    condition     = aws_rds_cluster_instance.this["1"].availability_zone != aws_rds_cluster_instance.this["2"].availability_zone
    error_message = "the reader must sit in another AZ than the writer"
  }
}

run "explicit_overrides_win" {
  command = plan

  variables {
    environment                   = "prod"
    deletion_protection           = false
    backup_retention_days         = 7
    instance_count                = 5
    master_password_rotation_days = null
    kms_key_arn                   = "arn:aws:kms:eu-west-1:111122223333:key/11111111-1111-1111-1111-111111111111"
  }

  assert {
    condition     = !aws_rds_cluster.this.deletion_protection && aws_rds_cluster.this.backup_retention_period == 7 && length(aws_rds_cluster_instance.this) == 5
    error_message = "explicit variables must override the environment defaults"
  }
  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_rds_cluster.this.kms_key_id == "arn:aws:kms:eu-west-1:111122223333:key/11111111-1111-1111-1111-111111111111"
    error_message = "a given KMS key replaces the module's own"
  }
  assert {
    condition     = length(aws_secretsmanager_secret_rotation.master) == 0
    error_message = "null rotation leaves RDS's default schedule alone"
  }
  assert {
    condition     = length(toset([for i in aws_rds_cluster_instance.this : i.availability_zone])) == 3
    error_message = "five instances still spread over the three AZs"
  }
}

run "scale_to_zero_is_refused_outside_dev" {
  command = plan

  variables {
    environment  = "staging"
    min_capacity = 0
  }

  expect_failures = [aws_rds_cluster.this]
}

run "full_engine_version_is_refused" {
  command = plan

  variables {
    engine_major_version = "16.4"
  }

  expect_failures = [var.engine_major_version]
}

run "reserved_master_username_is_refused" {
  command = plan

  variables {
    master_username = "postgres"
  }

  expect_failures = [var.master_username]
}

run "backup_retention_over_35_days_is_refused" {
  command = plan

  variables {
    backup_retention_days = 36
  }

  expect_failures = [var.backup_retention_days]
}
