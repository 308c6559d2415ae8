# Remote state: S3 with native lock files (Terraform >= 1.10). The bucket is
# created once per account by terraform/bootstrap. Override the bucket name at
# init for your account: terraform init -backend-config="bucket=<name>".
terraform {
  backend "s3" {
    bucket       = "colonnade-tfstate"
    key          = "environments/prod/terraform.tfstate"
    region       = "eu-west-1"
    encrypt      = true
    use_lockfile = true
  }
}
