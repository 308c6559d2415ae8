terraform {
  # 1.10+ for S3 native state locking (use_lockfile in backend.hcl).
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
}
