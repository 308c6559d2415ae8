# prod's state in the account's bucket (scripts/deploy.py adds
# bucket = colonnade-tfstate-<account id>-<region> from the credentials in use,
# or takes --backend-config bucket=...).
key          = "environments/prod/terraform.tfstate"
region       = "eu-west-1"
encrypt      = true
use_lockfile = true
