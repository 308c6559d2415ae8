data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  env_defaults = {
    dev     = { daily_retention_days = 7, monthly_retention_days = 0 }
    staging = { daily_retention_days = 35, monthly_retention_days = 0 }
    prod    = { daily_retention_days = 35, monthly_retention_days = 365 }
  }[var.environment]

  daily_retention_days   = coalesce(var.daily_retention_days, local.env_defaults.daily_retention_days)
  monthly_retention_days = coalesce(var.monthly_retention_days, local.env_defaults.monthly_retention_days)

  create_plan = length(var.resource_arns) > 0
  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.this[0].arn

  rules = merge(
    {
      daily = {
        schedule       = var.daily_schedule
        retention_days = local.daily_retention_days
      }
    },
    local.monthly_retention_days > 0 ? {
      monthly = {
        schedule       = "cron(0 5 1 * ? *)"
        retention_days = local.monthly_retention_days
      }
    } : {},
  )
}

resource "aws_kms_key" "this" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "${var.name} AWS Backup vault"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AccountAdministration"
      Effect    = "Allow"
      Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
      Action    = "kms:*"
      Resource  = "*"
    }]
  })

  tags = merge(var.tags, { Name = "${var.name}-backup" })
}

resource "aws_backup_vault" "this" {
  name        = var.name
  kms_key_arn = local.kms_key_arn

  tags = var.tags
}

resource "aws_backup_vault_lock_configuration" "this" {
  count = var.vault_lock == null ? 0 : 1

  backup_vault_name  = aws_backup_vault.this.name
  min_retention_days = var.vault_lock.min_retention_days
  max_retention_days = var.vault_lock.max_retention_days
}

resource "aws_backup_plan" "this" {
  count = local.create_plan ? 1 : 0

  name = var.name

  dynamic "rule" {
    for_each = local.rules
    content {
      rule_name         = rule.key
      target_vault_name = aws_backup_vault.this.name
      schedule          = rule.value.schedule
      start_window      = 60
      completion_window = 360

      lifecycle {
        delete_after = rule.value.retention_days
      }

      recovery_point_tags = merge(var.tags, { BackupRule = rule.key })

      dynamic "copy_action" {
        for_each = var.copy_destination_vault_arn == null ? [] : [var.copy_destination_vault_arn]
        content {
          destination_vault_arn = copy_action.value
          lifecycle {
            delete_after = rule.value.retention_days
          }
        }
      }
    }
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.vault_lock == null ? true : alltrue([for r in values(local.rules) : r.retention_days >= var.vault_lock.min_retention_days && r.retention_days <= var.vault_lock.max_retention_days])
      error_message = "Every rule's retention must lie within the vault lock's min/max retention."
    }
  }
}

resource "aws_iam_role" "this" {
  count = local.create_plan ? 1 : 0

  name_prefix = "${substr(var.name, 0, 24)}-backup-"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "backup.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })

  tags = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.create_plan ? toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]) : toset([])

  role       = aws_iam_role.this[0].name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/${each.key}"
}

resource "aws_backup_selection" "this" {
  count = local.create_plan ? 1 : 0

  name         = var.name
  plan_id      = aws_backup_plan.this[0].id
  iam_role_arn = aws_iam_role.this[0].arn
  resources    = var.resource_arns
}
