# staging: production's shape at a smaller size, so releases rehearse prod.
environment        = "staging"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
vpc_cidr           = "10.20.0.0/16"
compute            = "ecs"

nat_gateway_mode = "per_az"

fargate_spot_weight = 1

aurora = { min_capacity = 0.5, max_capacity = 8 }
cache  = { node_type = "cache.t4g.small", num_cache_nodes = 3 }

backend_host             = "api.staging.colonnade.example.com"
certificate_domain_names = ["*.staging.colonnade.example.com"]

deletion_protection = true
log_retention_days  = 90

api = {
  throttling_rate_limit  = 200
  throttling_burst_limit = 400
  usage_plans = {
    partners = { rate_limit = 50, burst_limit = 100, quota_limit = 100000, quota_period = "DAY", api_keys = ["qa"] }
  }
  web = { rate_limit = 50, burst_limit = 100 }
}

# The services' own metrics (EMF lines in the logs, every minute) and their alarm thresholds;
# traces to X-Ray through the ADOT collector sidecar, requests without a traceparent sampled
# at this ratio (the deploy rehearsal receives the spans in the collector's place).
observability = {
  emf_interval_seconds = 60
  tracing              = true
  trace_sample_ratio   = 0.2
  thresholds = {
    service_error_rate_percent   = 2
    service_p99_seconds          = 0.5
    cache_degraded_minutes       = 10
    db_pool_exhausted_per_minute = 20
  }
}
