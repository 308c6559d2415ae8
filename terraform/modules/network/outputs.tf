output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "IPv4 CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "azs" {
  description = "Availability Zones of the network, sorted."
  value       = local.azs
}

output "public_subnet_ids" {
  description = "Public subnet IDs keyed by AZ (load balancers, NAT gateways)."
  value       = { for az, s in aws_subnet.public : az => s.id }
}

output "private_subnet_ids" {
  description = "Private (application) subnet IDs keyed by AZ."
  value       = { for az, s in aws_subnet.private : az => s.id }
}

output "database_subnet_ids" {
  description = "Database subnet IDs keyed by AZ (Aurora, ElastiCache); no route leaves the VPC."
  value       = { for az, s in aws_subnet.database : az => s.id }
}

output "private_route_table_ids" {
  description = "Private route table IDs keyed by AZ."
  value       = { for az, rt in aws_route_table.private : az => rt.id }
}

output "database_route_table_id" {
  description = "Route table of the database subnets."
  value       = aws_route_table.database.id
}

output "nat_gateway_ids" {
  description = "NAT gateway IDs keyed by the AZ that hosts them (empty when nat_gateway_mode is none)."
  value       = { for az, n in aws_nat_gateway.this : az => n.id }
}

output "nat_public_ips" {
  description = "Public egress IPs of the NAT gateways, keyed by AZ (for allow-lists at third parties)."
  value       = { for az, e in aws_eip.nat : az => e.public_ip }
}

output "vpc_endpoint_security_group_id" {
  description = "Security group of the interface VPC endpoints."
  value       = aws_security_group.endpoints.id
}

output "vpc_endpoint_ids" {
  description = "VPC endpoint IDs keyed by service (s3 plus the interface endpoints)."
  value       = merge({ s3 = aws_vpc_endpoint.s3.id }, { for s, e in aws_vpc_endpoint.interface : s => e.id })
}

output "flow_log_group_name" {
  description = "CloudWatch Logs group that receives the VPC flow logs (null when disabled)."
  value       = var.enable_flow_logs ? aws_cloudwatch_log_group.flow_logs[0].name : null
}
