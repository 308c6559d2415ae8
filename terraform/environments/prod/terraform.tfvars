# prod: a NAT gateway per AZ, three tasks per service (one per AZ) at least,
# deletion protection, two years of logs, a multi-AZ Aurora and a cached API.
environment        = "prod"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
vpc_cidr           = "10.30.0.0/16"
compute            = "ecs"

nat_gateway_mode = "per_az"

services = {
  gateway = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
  catalog = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
  orders  = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
}
fargate_spot_weight = 0

aurora = { min_capacity = 1, max_capacity = 32 }
cache  = { node_type = "cache.m7g.large", num_cache_nodes = 3 }

deletion_protection = true
log_retention_days  = 731

api = {
  throttling_rate_limit  = 2000
  throttling_burst_limit = 1000
  cache_cluster_size     = "0.5"
  usage_plans = {
    partners = { rate_limit = 200, burst_limit = 400, quota_limit = 5000000, quota_period = "MONTH", api_keys = ["partner-a"] }
  }
}

# Images are replicated to the DR region with every push.
ecr_replication_regions = ["eu-central-1"]
