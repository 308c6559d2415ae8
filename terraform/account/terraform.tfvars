# Account-level data: one account holds dev, staging and prod in one Region.
region    = "eu-west-1"
dr_region = "eu-central-1"

# The quotas this account must have for every environment in it; the check in
# main.tf compares them with Service Quotas at plan time, and
# tests/terraform/test_classes.py with what all environments plan together.
# Default Elastic IPs per Region: 5. NAT gateways take 1 (dev) + 3 (staging)
# + 3 (prod) = 7: request 10 (quota L-0263D0A3) before the first prod apply.
service_quotas = {
  elastic_ips              = 10
  manual_cluster_snapshots = 100
}
