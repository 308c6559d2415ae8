# prod: a NAT gateway per AZ, three tasks per service (one per AZ) at least,
# deletion protection, two years of logs, a multi-AZ Aurora, a cached API and
# backups copied to the DR Region.
environment        = "prod"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
vpc_cidr           = "10.30.0.0/16"
compute            = "ecs"

nat_gateway_mode = "per_az"

fargate_spot_weight = 0

aurora = { min_capacity = 1, max_capacity = 32 }
# m7g supports in-transit encryption: ElastiCache refuses it only on the
# m1, m2, m3, r3 and t2 families (the cache module checks).
cache = { node_type = "cache.m7g.large", num_cache_nodes = 3 }

backend_host             = "api.colonnade.example.com"
certificate_domain_names = ["*.colonnade.example.com"]

deletion_protection = true
log_retention_days  = 731

api = {
  throttling_rate_limit  = 2000
  throttling_burst_limit = 1000
  cache_cluster_size     = "0.5"
  usage_plans = {
    partners = { rate_limit = 200, burst_limit = 400, quota_limit = 5000000, quota_period = "MONTH", api_keys = ["partner-a"] }
  }
  web = { rate_limit = 500, burst_limit = 1000 }
}

# Every Aurora recovery point is copied to the account root's DR vault.
backup_copy = { region = "eu-central-1", vault_name = "colonnade-dr" }

# With compute = "eks": who administers the cluster (roles of this account)
# and which networks reach its private API endpoint.
eks = {
  admin_role_names = ["colonnade-platform-admin"]
}

# The services' own metrics (EMF lines in the logs, every minute) and their alarm thresholds;
# traces to X-Ray through the ADOT collector sidecar, requests without a traceparent sampled
# at this ratio (the deploy rehearsal receives the spans in the collector's place).
observability = {
  emf_interval_seconds = 60
  tracing              = true
  trace_sample_ratio   = 0.05
  thresholds = {
    service_error_rate_percent   = 1
    service_p99_seconds          = 0.25
    cache_degraded_minutes       = 5
    db_pool_exhausted_per_minute = 10
  }
}
