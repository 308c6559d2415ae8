variable "name" {
  description = "Cluster name (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "kubernetes_version" {
  description = "Kubernetes minor version of the control plane (Auto Mode nodes follow it)."
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
  description = "Private subnet IDs keyed by Availability Zone: the control plane's network interfaces and the Auto Mode nodes."
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

variable "node_pools" {
  description = "Built-in Auto Mode node pools to enable (`general-purpose` for the services, `system` for cluster add-ons)."
  type        = list(string)
  default     = ["general-purpose", "system"]
  nullable    = false

  validation {
    condition     = length(var.node_pools) > 0 && alltrue([for p in var.node_pools : contains(["general-purpose", "system"], p)])
    error_message = "node_pools must be general-purpose and/or system."
  }
}

variable "addons" {
  description = "EKS add-ons to install on top of what Auto Mode runs (it already provides the VPC CNI, CoreDNS, kube-proxy and the pod identity agent), name => version (null: the default for the cluster's version). metrics-server feeds the HorizontalPodAutoscalers."
  type        = map(string)
  default = {
    "metrics-server" = null
  }
  nullable = false

  validation {
    condition     = length(setintersection(keys(var.addons), ["vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent"])) == 0
    error_message = "Auto Mode manages vpc-cni, coredns, kube-proxy and the pod identity agent itself; do not install them as add-ons."
  }
}

variable "api_access_cidrs" {
  description = "Networks outside the VPC that reach it (VPN, Direct Connect, peering) and may use the private Kubernetes API endpoint, keyed by name."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for c in values(var.api_access_cidrs) : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "api_access_cidrs must be IPv4 CIDRs other than 0.0.0.0/0."
  }
}

variable "target_group_arns" {
  description = "Target groups the cluster's TargetGroupBindings register pods in (the cluster role may register and deregister targets there only)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "load_balancer_ingress" {
  description = "What the load balancer reaches on the pods, keyed by service: `{ security_group_id, port }` (admitted on the cluster security group)."
  type = map(object({
    security_group_id = string
    port              = number
  }))
  default  = {}
  nullable = false
}

variable "service_accounts" {
  description = "Pod identities: one IAM role per Kubernetes service account, keyed by service. `db_user` grants rds-db:connect to that database user on db_cluster_resource_id; `secret_arns` grants reading exactly those Secrets Manager secrets (the Secrets Store CSI driver fetches them with the pod's identity), `secrets_kms_key_arns` decrypting them through Secrets Manager only."
  type = map(object({
    namespace            = string
    service_account      = string
    db_user              = optional(string)
    secret_arns          = optional(list(string), [])
    secrets_kms_key_arns = optional(list(string), [])
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
  description = "IAM principals granted cluster-admin through EKS access entries, keyed by a stable name. At least one: the creator gets no implicit admin."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for a in values(var.admin_principal_arns) : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", a))])
    error_message = "admin_principal_arns must be IAM role or user ARNs."
  }
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
