data "aws_region" "current" {}
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  # Per-environment defaults; every one can be overridden by its variable.
  env_defaults = {
    dev     = { deletion_protection = false, skip_final_snapshot = true, backup_retention_days = 3, instance_count = 1 }
    staging = { deletion_protection = true, skip_final_snapshot = false, backup_retention_days = 14, instance_count = 2 }
    prod    = { deletion_protection = true, skip_final_snapshot = false, backup_retention_days = 35, instance_count = 3 }
  }[var.environment]

  deletion_protection   = coalesce(var.deletion_protection, local.env_defaults.deletion_protection)
  skip_final_snapshot   = coalesce(var.skip_final_snapshot, local.env_defaults.skip_final_snapshot)
  backup_retention_days = coalesce(var.backup_retention_days, local.env_defaults.backup_retention_days)
  instance_count        = coalesce(var.instance_count, local.env_defaults.instance_count)

  azs = sort(keys(var.subnet_ids))

  # Instance N goes to AZ N (mod the AZ count): the writer and the readers land
  # in different AZs. Keys are stable numbers, so growing the count only adds.
  instances = {
    for i in range(local.instance_count) : tostring(i + 1) => {
      availability_zone = local.azs[i % length(local.azs)]
      # The first two instances are the preferred failover targets.
      promotion_tier = i < 2 ? 0 : 1
    }
  }

  kms_key_arn    = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn
  log_group_name = "/aws/rds/cluster/${var.name}/postgresql"
  port           = 5432
}

################################################################################
# Encryption key
################################################################################

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "${var.name} Aurora storage, master secret, Performance Insights and logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${data.aws_region.current.name}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:${local.log_group_name}"
          }
        }
      },
    ]
  })

  tags = merge(var.tags, { Name = var.name })
}

################################################################################
# Networking
################################################################################

resource "aws_db_subnet_group" "this" {
  name_prefix = "${var.name}-"
  description = "Database subnets of ${var.name}"
  subnet_ids  = [for az in local.azs : var.subnet_ids[az]]

  tags = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-aurora-"
  description = "Aurora PostgreSQL ${var.name}: only the named application security groups"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-aurora" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "postgres" {
  for_each = var.allowed_security_group_ids

  security_group_id            = aws_security_group.this.id
  description                  = "PostgreSQL from ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = local.port
  to_port                      = local.port
  referenced_security_group_id = each.value
}

################################################################################
# Parameters: TLS required, query logging
################################################################################

resource "aws_rds_cluster_parameter_group" "this" {
  name_prefix = "${var.name}-pg${var.engine_major_version}-"
  family      = "aurora-postgresql${var.engine_major_version}"
  description = "${var.name}: TLS required, DDL and slow-query logging"

  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "immediate"
  }

  parameter {
    name         = "ssl_min_protocol_version"
    value        = "TLSv1.2"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_statement"
    value        = "ddl"
    apply_method = "immediate"
  }

  parameter {
    name         = "log_min_duration_statement"
    value        = tostring(var.log_min_duration_statement_ms)
    apply_method = "immediate"
  }

  tags = var.tags

  # A major upgrade needs a new family: create the new group before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

################################################################################
# Logs and monitoring
################################################################################

# Created before the cluster so RDS writes into an encrypted group with a
# retention instead of creating one that keeps logs forever, unencrypted.
resource "aws_cloudwatch_log_group" "postgresql" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn

  tags = var.tags
}

resource "aws_iam_role" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  name_prefix = "${substr(var.name, 0, 20)}-rds-monitoring-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  count = var.monitoring_interval > 0 ? 1 : 0

  role       = aws_iam_role.monitoring[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

################################################################################
# Cluster
################################################################################

# A random suffix drawn once per cluster (terraform_data's id is a UUID made at
# creation and kept in state), the way terraform-aws-modules/rds-aurora uses
# random_id; the random provider is not available here.
resource "terraform_data" "final_snapshot_suffix" {
  triggers_replace = [var.name]
}

resource "aws_rds_cluster" "this" {
  #checkov:skip=CKV2_AWS_8:The AWS Backup plan lives in terraform/modules/backup, which environments wire to this cluster's ARN (see examples/serverless).
  cluster_identifier = var.name
  engine             = "aurora-postgresql"
  engine_mode        = "provisioned"
  # Major version only: the provider keeps "16" in state while AWS runs 16.x
  # (engine_version_actual), so automatic minor upgrades never produce a diff.
  engine_version              = var.engine_major_version
  allow_major_version_upgrade = var.allow_major_version_upgrade
  database_name               = var.database_name
  port                        = local.port

  master_username = var.master_username
  # RDS generates the password and keeps it in Secrets Manager, encrypted with
  # our key: it is never in a variable nor in state.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = local.kms_key_arn

  iam_database_authentication_enabled = var.iam_database_authentication_enabled
  storage_encrypted                   = true
  kms_key_id                          = local.kms_key_arn

  db_subnet_group_name            = aws_db_subnet_group.this.name
  vpc_security_group_ids          = [aws_security_group.this.id]
  db_cluster_parameter_group_name = aws_rds_cluster_parameter_group.this.name
  # availability_zones is deliberately unset: AWS places storage in three AZs
  # and setting fewer forces a replacement on every plan.

  backup_retention_period      = local.backup_retention_days
  preferred_backup_window      = var.preferred_backup_window
  preferred_maintenance_window = var.preferred_maintenance_window
  copy_tags_to_snapshot        = true
  deletion_protection          = local.deletion_protection
  skip_final_snapshot          = local.skip_final_snapshot
  # Unique per cluster: a fixed name collides with the snapshot a previous
  # destroy of the same environment left behind (DBClusterSnapshotAlreadyExists).
  final_snapshot_identifier = local.skip_final_snapshot ? null : "${var.name}-final-${substr(terraform_data.final_snapshot_suffix.id, 0, 8)}"
  delete_automated_backups  = false

  enabled_cloudwatch_logs_exports = ["postgresql"]
  apply_immediately               = var.apply_immediately

  serverlessv2_scaling_configuration {
    min_capacity             = var.min_capacity
    max_capacity             = var.max_capacity
    seconds_until_auto_pause = var.min_capacity == 0 ? var.seconds_until_auto_pause : null
  }

  tags = var.tags

  depends_on = [aws_cloudwatch_log_group.postgresql]

  lifecycle {
    precondition {
      condition     = var.min_capacity > 0 || var.environment == "dev"
      error_message = "min_capacity = 0 (scale to zero) is allowed only in dev: a paused writer takes seconds to resume."
    }
    precondition {
      condition     = var.max_capacity >= var.min_capacity
      error_message = "max_capacity must be at least min_capacity."
    }
  }
}

resource "aws_rds_cluster_instance" "this" {
  for_each = local.instances

  identifier         = "${var.name}-${each.key}"
  cluster_identifier = aws_rds_cluster.this.id
  engine             = aws_rds_cluster.this.engine
  engine_version     = aws_rds_cluster.this.engine_version
  instance_class     = "db.serverless"
  availability_zone  = each.value.availability_zone
  promotion_tier     = each.value.promotion_tier

  db_subnet_group_name       = aws_db_subnet_group.this.name
  publicly_accessible        = false
  auto_minor_version_upgrade = true
  copy_tags_to_snapshot      = true

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = local.kms_key_arn
  performance_insights_retention_period = var.performance_insights_retention_days

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = var.monitoring_interval > 0 ? aws_iam_role.monitoring[0].arn : null

  preferred_maintenance_window = var.preferred_maintenance_window
  apply_immediately            = var.apply_immediately

  tags = var.tags
}

################################################################################
# Master password rotation
################################################################################

# RDS owns the secret and rotates it without a Lambda; this only sets the
# schedule. rotate_immediately = false so an apply never rotates the password.
resource "aws_secretsmanager_secret_rotation" "master" {
  count = var.master_password_rotation_days == null ? 0 : 1

  secret_id          = aws_rds_cluster.this.master_user_secret[0].secret_arn
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.master_password_rotation_days
  }
}
