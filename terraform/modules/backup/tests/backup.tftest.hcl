# Unit tests of the backup module's logic with a mocked AWS provider.

mock_provider "aws" {
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
    defaults = { arn = "arn:aws:iam::111122223333:role/colonnade-test-backup" }
  }
}

variables {
  name          = "colonnade-test"
  environment   = "prod"
  resource_arns = ["arn:aws:rds:eu-west-1:111122223333:cluster:colonnade-test"]
}

run "prod_keeps_daily_and_monthly" {
  command = apply

  assert {
    condition     = output.rules == { daily = 35, monthly = 365 }
    error_message = "prod keeps daily backups 35 days and monthly ones a year"
  }
  assert {
    condition     = length(aws_backup_plan.this[0].rule) == 2 && alltrue([for r in aws_backup_plan.this[0].rule : r.target_vault_name == aws_backup_vault.this.name && length(r.copy_action) == 0])
    error_message = "both rules go to the module's vault; no copy without a destination"
  }
  assert {
    condition     = aws_backup_vault.this.kms_key_arn == aws_kms_key.this[0].arn && aws_kms_key.this[0].enable_key_rotation
    error_message = "the vault is encrypted with a rotating customer managed key"
  }
  assert {
    condition     = aws_backup_selection.this[0].resources == toset(["arn:aws:rds:eu-west-1:111122223333:cluster:colonnade-test"]) && aws_backup_selection.this[0].iam_role_arn == aws_iam_role.this[0].arn
    error_message = "the selection protects the given cluster with the module's role"
  }
}

run "dev_keeps_a_week" {
  command = plan

  variables {
    environment = "dev"
  }

  assert {
    condition     = output.rules == { daily = 7 }
    error_message = "dev keeps daily backups 7 days and no monthly ones"
  }
}

run "copies_to_another_region" {
  command = plan

  variables {
    copy_destination_vault_arn = "arn:aws:backup:eu-central-1:111122223333:backup-vault:colonnade-test-dr"
  }

  assert {
    condition = alltrue([
      for r in aws_backup_plan.this[0].rule :
      one(r.copy_action).destination_vault_arn == "arn:aws:backup:eu-central-1:111122223333:backup-vault:colonnade-test-dr" && one(r.copy_action).lifecycle[0].delete_after == r.lifecycle[0].delete_after
    ])
    error_message = "every rule copies to the DR vault with the same retention"
  }
}

run "vault_only" {
  command = plan

  variables {
    resource_arns = []
  }

  assert {
    condition     = length(aws_backup_plan.this) == 0 && length(aws_backup_selection.this) == 0 && length(aws_iam_role.this) == 0 && output.plan_id == null
    error_message = "without resources the module creates only the vault"
  }
}

run "vault_lock_must_cover_the_retention" {
  command = plan

  variables {
    vault_lock = { min_retention_days = 60, max_retention_days = 400 }
  }

  expect_failures = [aws_backup_plan.this]
}

run "vault_lock_in_governance_mode" {
  command = plan

  variables {
    vault_lock = { min_retention_days = 7, max_retention_days = 400 }
  }

  assert {
    condition     = aws_backup_vault_lock_configuration.this[0].changeable_for_days == null && aws_backup_vault_lock_configuration.this[0].min_retention_days == 7
    error_message = "the lock stays in governance mode (no changeable_for_days)"
  }
}

run "bad_copy_destination_is_refused" {
  command = plan

  variables {
    copy_destination_vault_arn = "colonnade-test-dr"
  }

  expect_failures = [var.copy_destination_vault_arn]
}
