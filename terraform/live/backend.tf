# Partial configuration: each environment's backend.hcl (its own state key)
# is passed by `scripts/deploy.py <env>` to `terraform init -backend-config`,
# with the account's bucket. One root, one state per environment: not CLI
# workspaces, so each environment keeps its own state and credentials.
terraform {
  backend "s3" {}
}
