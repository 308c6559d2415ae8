# dev: cheapest shape that still spans three AZs.
environment        = "dev"
region             = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
vpc_cidr           = "10.10.0.0/16"
compute            = "ecs"

# One NAT gateway for the whole VPC (an AZ outage cuts dev's egress; accepted).
nat_gateway_mode = "single"

# Spot for the tasks above each service's first: the image is built for x86_64
# (cpu_architecture), which Fargate Spot supports; ARM64 would be refused.
fargate_spot_weight = 3

# Scale-to-zero Aurora Serverless v2: pauses after an idle hour.
aurora = { min_capacity = 0, max_capacity = 4 }
cache  = { node_type = "cache.t4g.micro", num_cache_nodes = 2 }

# The ALB's certificate (its ARN is account-specific: TF_VAR_certificate_arn)
# covers the host API Gateway calls.
backend_host             = "api.dev.colonnade.example.com"
certificate_domain_names = ["*.dev.colonnade.example.com"]

deletion_protection = false
log_retention_days  = 30

api = {
  throttling_rate_limit  = 50
  throttling_burst_limit = 100
  usage_plans = {
    developers = { rate_limit = 10, burst_limit = 20, quota_limit = 10000, quota_period = "DAY", api_keys = ["ci"] }
  }
  web = { rate_limit = 20, burst_limit = 40 }
}

cdn = { rate_limit = 1000 }

# The services' own metrics (EMF lines in the logs, every minute) and their alarm thresholds;
# traces to X-Ray through the ADOT collector sidecar, requests without a traceparent sampled
# at this ratio (the deploy rehearsal receives the spans in the collector's place).
observability = {
  emf_interval_seconds = 60
  tracing              = true
  trace_sample_ratio   = 1
  thresholds = {
    service_error_rate_percent   = 5
    service_p99_seconds          = 1
    cache_degraded_minutes       = 15
    db_pool_exhausted_per_minute = 50
  }
}
