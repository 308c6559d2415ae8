variable "name" {
  description = "Cluster name (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (node groups follow it)."
  type        = string
  default     = "1.33"
  nullable    = false

  validation {
    condition     = can(regex("^1\\.[0-9]{2}$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33."
  }
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnet IDs keyed by Availability Zone: the control plane's network interfaces and one managed node group per AZ."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "The cluster must span at least three AZs."
  }
}

variable "endpoint_public_access" {
  description = "Also expose the Kubernetes API endpoint publicly (restricted to public_access_cidrs). The private endpoint is always on."
  type        = bool
  default     = false
  nullable    = false
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public endpoint when it is enabled (never 0.0.0.0/0)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for c in var.public_access_cidrs : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "public_access_cidrs must be IPv4 CIDRs other than 0.0.0.0/0."
  }
}

variable "instance_types" {
  description = "Instance types of the managed node groups (Graviton by default; must match ami_type's architecture)."
  type        = list(string)
  default     = ["m7g.large"]
  nullable    = false
}

variable "ami_type" {
  description = "AMI type of the managed node groups."
  type        = string
  default     = "AL2023_ARM_64_STANDARD"
  nullable    = false

  validation {
    condition     = contains(["AL2023_ARM_64_STANDARD", "AL2023_x86_64_STANDARD", "BOTTLEROCKET_ARM_64", "BOTTLEROCKET_x86_64"], var.ami_type)
    error_message = "ami_type must be an AL2023 or Bottlerocket AMI type."
  }
}

variable "capacity_type" {
  description = "ON_DEMAND or SPOT capacity for the node groups."
  type        = string
  default     = "ON_DEMAND"
  nullable    = false

  validation {
    condition     = contains(["ON_DEMAND", "SPOT"], var.capacity_type)
    error_message = "capacity_type must be ON_DEMAND or SPOT."
  }
}

variable "nodes_per_az" {
  description = "Node count per AZ node group: min, desired (initial only: the cluster autoscaler owns it afterwards) and max."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 1, desired = 1, max = 3 }

  validation {
    condition     = var.nodes_per_az.min >= 0 && var.nodes_per_az.min <= var.nodes_per_az.desired && var.nodes_per_az.desired <= var.nodes_per_az.max && var.nodes_per_az.max >= 1
    error_message = "nodes_per_az must satisfy 0 <= min <= desired <= max and max >= 1."
  }
}

variable "node_disk_size_gb" {
  description = "Encrypted gp3 root volume size of the nodes."
  type        = number
  default     = 50
  nullable    = false
}

variable "addons" {
  description = "EKS add-ons to install, name => version (null: the default version for the cluster's Kubernetes version)."
  type        = map(string)
  default = {
    "vpc-cni"                = null
    "coredns"                = null
    "kube-proxy"             = null
    "eks-pod-identity-agent" = null
  }
  nullable = false
}

variable "service_accounts" {
  description = "Pod identities: one IAM role per Kubernetes service account, keyed by service. `db_user` grants rds-db:connect to that database user on db_cluster_resource_id."
  type = map(object({
    namespace       = string
    service_account = string
    db_user         = optional(string)
  }))
  default  = {}
  nullable = false
}

variable "db_cluster_resource_id" {
  description = "Aurora cluster resource ID for the pod identities' IAM database authentication (null: no database grants)."
  type        = string
  default     = null
}

variable "admin_principal_arns" {
  description = "IAM principals granted cluster-admin through EKS access entries, keyed by a stable name."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the control-plane log group (CloudWatch Logs allowed value)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
