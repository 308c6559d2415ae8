output "cluster_id" {
  description = "Cluster ID."
  value       = aws_elasticache_cluster.this.cluster_id
}

output "arn" {
  description = "Cluster ARN."
  value       = aws_elasticache_cluster.this.arn
}

output "configuration_endpoint" {
  description = "Configuration endpoint (host:port) for auto-discovery clients."
  value       = aws_elasticache_cluster.this.configuration_endpoint
}

output "cluster_address" {
  description = "DNS name of the cluster without the port."
  value       = aws_elasticache_cluster.this.cluster_address
}

output "port" {
  description = "Memcached port."
  value       = aws_elasticache_cluster.this.port
}

output "node_endpoints" {
  description = "host:port of every node, in node order (for clients without auto-discovery, such as aiomcache)."
  value       = [for n in aws_elasticache_cluster.this.cache_nodes : "${n.address}:${n.port}"]
}

output "node_availability_zones" {
  description = "Requested AZ of every node, in node order."
  value       = local.preferred_availability_zones
}

output "security_group_id" {
  description = "Security group of the cache."
  value       = aws_security_group.this.id
}
