mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
}

variables {
  repositories = ["colonnade"]
}

run "repositories_are_immutable_scanned_and_encrypted" {
  command = plan

  assert {
    condition     = length(aws_ecr_repository.this) == 1
    error_message = "One repository for the one image."
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_tag_mutability == "IMMUTABLE"])
    error_message = "Tags must be immutable."
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.image_scanning_configuration[0].scan_on_push])
    error_message = "Images must be scanned on push."
  }

  assert {
    condition     = alltrue([for r in aws_ecr_repository.this : r.encryption_configuration[0].encryption_type == "KMS"])
    error_message = "Images must be KMS-encrypted."
  }

  assert {
    condition     = aws_ecr_repository.this["colonnade"].name == "colonnade"
    error_message = "Repositories carry the names given."
  }

  assert {
    condition     = length(aws_kms_key.this) == 1 && aws_kms_key.this[0].enable_key_rotation
    error_message = "A rotating customer managed key is created when none is given."
  }

  assert {
    condition     = length(jsondecode(aws_ecr_lifecycle_policy.this["colonnade"].policy).rules) == 2
    error_message = "Lifecycle policy expires untagged images and old tags."
  }

  assert {
    condition     = length(aws_ecr_replication_configuration.this) == 0
    error_message = "No replication unless regions are given."
  }
}

run "replicates_to_the_dr_region" {
  command = plan

  variables {
    replication_regions = ["eu-central-1"]
    kms_key_arn         = "arn:aws:kms:eu-west-1:123456789012:key/abc"
  }

  assert {
    condition     = aws_ecr_replication_configuration.this[0].replication_configuration[0].rule[0].destination[0].region == "eu-central-1"
    error_message = "Replication goes to the DR region."
  }

  assert {
    condition     = aws_ecr_replication_configuration.this[0].replication_configuration[0].rule[0].repository_filter[0].filter == "colonnade"
    error_message = "Only this project's repositories replicate."
  }

  assert {
    condition     = length(aws_kms_key.this) == 0
    error_message = "A given key is used instead of creating one."
  }
}

run "rejects_bad_names" {
  command = plan

  variables {
    repositories = ["Colonnade", "a//b"]
  }

  expect_failures = [var.repositories]
}
