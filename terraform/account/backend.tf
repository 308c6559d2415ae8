# Partial configuration: the values are in backend.hcl, which
# `scripts/deploy.py account ...` passes to `terraform init -backend-config`
# (the bucket name follows the account: see terraform/README.md). The very
# first run creates the bucket with local state: `scripts/deploy.py account bootstrap`.
terraform {
  backend "s3" {}
}
