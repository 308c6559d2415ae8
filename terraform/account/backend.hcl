# The account root's state; the bucket is `colonnade-tfstate-<account id>-<region>`,
# added by scripts/deploy.py from the credentials in use (or --backend-config bucket=...).
key          = "account/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
