mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
}

variables {
  bucket_name = "colonnade-tfstate-123456789012-eu-west-1"
}

run "versioned_encrypted_private_state" {
  command = plan

  assert {
    condition     = one(aws_s3_bucket_versioning.state.versioning_configuration).status == "Enabled"
    error_message = "State history is kept (versioning)."
  }

  assert {
    condition     = one([for r in aws_s3_bucket_server_side_encryption_configuration.state.rule : r.apply_server_side_encryption_by_default[0].sse_algorithm]) == "aws:kms"
    error_message = "State is KMS-encrypted."
  }

  assert {
    condition     = aws_s3_bucket_public_access_block.state.block_public_policy && aws_s3_bucket_public_access_block.state.restrict_public_buckets
    error_message = "State is never public."
  }

  assert {
    condition     = length(aws_dynamodb_table.lock) == 0
    error_message = "S3 lock files by default; no DynamoDB table."
  }
}

run "legacy_lock_table" {
  command = plan

  variables {
    create_lock_table = true
  }

  assert {
    condition     = aws_dynamodb_table.lock[0].hash_key == "LockID" && aws_dynamodb_table.lock[0].point_in_time_recovery[0].enabled
    error_message = "The lock table has the key Terraform expects and PITR."
  }
}

run "rejects_invalid_bucket_names" {
  command = plan

  variables {
    bucket_name = "Colonnade_State"
  }

  expect_failures = [var.bucket_name]
}
