variable "name" {
  description = "Cluster ID and name prefix (1-40 characters; for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,38}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 2-40 lower-case letters, digits and single hyphens, starting with a letter (ElastiCache cluster IDs are limited to 40)."
  }
}

variable "vpc_id" {
  description = "VPC that hosts the cache."
  type        = string
}

variable "subnet_ids" {
  description = "Subnet IDs keyed by Availability Zone (the network module's `database_subnet_ids`). Nodes are spread over these AZs in order."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "subnet_ids must cover at least two Availability Zones (cross-az placement)."
  }
}

variable "allowed_security_group_ids" {
  description = "Application security groups allowed to reach memcached, keyed by a stable name. Nothing else is admitted."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "node_type" {
  description = "Cache node type."
  type        = string
  default     = "cache.t4g.small"
  nullable    = false

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.node_type))
    error_message = "node_type must look like cache.t4g.small."
  }

  # In-transit encryption (always on here) is refused for these families:
  # ElastiCache DG in-transit-encryption.html, "In-transit encryption
  # conditions (Memcached)". Newer families (m7g, r7g, ...) support it.
  validation {
    condition     = !contains(["m1", "m2", "m3", "r3", "t2"], try(split(".", var.node_type)[1], ""))
    error_message = "node_type: ElastiCache does not support in-transit encryption on the m1, m2, m3, r3 and t2 node families; pick a current family (t4g, m6g, m7g, r7g, ...)."
  }
}

variable "num_cache_nodes" {
  description = "Number of memcached nodes, spread round-robin over the AZs (at least one per AZ is recommended, so an AZ loss only costs a share of the keys)."
  type        = number
  default     = 3
  nullable    = false

  validation {
    condition     = var.num_cache_nodes >= 2 && var.num_cache_nodes <= 40 && floor(var.num_cache_nodes) == var.num_cache_nodes
    error_message = "num_cache_nodes must be a whole number from 2 to 40 (cross-az needs at least two)."
  }
}

variable "engine_version" {
  description = "Memcached engine version; 1.6.12 or later is needed for in-transit encryption."
  type        = string
  default     = "1.6.22"
  nullable    = false

  validation {
    condition     = can(regex("^1\\.6\\.([0-9]+)$", var.engine_version)) && try(tonumber(regex("^1\\.6\\.([0-9]+)$", var.engine_version)[0]) >= 12, false)
    error_message = "engine_version must be 1.6.12 or later on the 1.6 line (TLS support)."
  }
}

variable "port" {
  description = "Memcached port."
  type        = number
  default     = 11211
  nullable    = false

  validation {
    condition     = var.port >= 1024 && var.port <= 65535
    error_message = "port must be between 1024 and 65535."
  }
}

variable "parameters" {
  description = "Extra memcached parameters for the parameter group (name => value)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window (ddd:hh24:mi-ddd:hh24:mi)."
  type        = string
  default     = "sun:05:00-sun:06:00"
  nullable    = false

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:05:00-sun:06:00."
  }
}

variable "apply_immediately" {
  description = "Apply modifications immediately instead of in the next maintenance window."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
