variable "name" {
  description = "Name prefix for every resource of the network (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "cidr_block" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 24
    error_message = "cidr_block must be a valid IPv4 CIDR no smaller than /24."
  }
}

variable "subnets" {
  description = <<-EOT
    Subnet CIDRs keyed by Availability Zone name, for example
    `{ "eu-west-1a" = { public = "10.0.0.0/24", private = "10.0.16.0/20", database = "10.0.8.0/24" } }`.
    Every subnet is keyed by its AZ (for_each), so adding or removing an AZ never recreates the subnets of the other AZs.
    At least three AZs are required.
  EOT
  type = map(object({
    public   = string
    private  = string
    database = string
  }))

  validation {
    condition     = length(var.subnets) >= 3
    error_message = "subnets must cover at least three Availability Zones."
  }

  validation {
    condition = alltrue(flatten([
      for az, s in var.subnets : [for c in [s.public, s.private, s.database] : can(cidrhost(c, 0))]
    ]))
    error_message = "Every public, private and database value must be a valid IPv4 CIDR."
  }

  validation {
    condition     = alltrue([for az in keys(var.subnets) : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", az))])
    error_message = "subnets keys must be Availability Zone names such as eu-west-1a."
  }

  validation {
    condition = length(distinct(flatten([
      for s in values(var.subnets) : [s.public, s.private, s.database]
    ]))) == 3 * length(var.subnets)
    error_message = "Subnet CIDRs must all be distinct."
  }
}

variable "nat_gateway_mode" {
  description = "Outbound internet access for the private subnets: `per_az` (one NAT gateway per AZ, survives the loss of an AZ), `single` (one NAT gateway, cheaper, for dev) or `none` (no NAT; the VPC endpoints carry AWS traffic)."
  type        = string
  default     = "per_az"
  nullable    = false

  validation {
    condition     = contains(["per_az", "single", "none"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be one of per_az, single, none."
  }
}

variable "single_nat_gateway_az" {
  description = "AZ that hosts the NAT gateway when nat_gateway_mode is `single`. Null picks the first AZ in lexical order; set it explicitly so adding an AZ never moves the NAT gateway."
  type        = string
  default     = null
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints from the private subnets (service suffixes after `com.amazonaws.<region>.`). S3 always gets a gateway endpoint."
  type        = set(string)
  default     = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"]
  nullable    = false

  validation {
    condition     = alltrue([for s in var.interface_endpoints : can(regex("^[a-z0-9-]+(\\.[a-z0-9-]+)*$", s))])
    error_message = "interface_endpoints entries must be service suffixes such as ecr.api or logs."
  }
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs (all traffic) to an encrypted CloudWatch Logs group."
  type        = bool
  default     = true
  nullable    = false
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group in days (a CloudWatch Logs allowed value; at least 365 recommended for audit)."
  type        = number
  default     = 365
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, ..., 365, 400, 545, 731, ... 3653)."
  }
}

variable "flow_log_kms_key_arn" {
  description = "KMS key ARN that encrypts the flow log group. Null creates a dedicated customer managed key with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.flow_log_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.flow_log_kms_key_arn))
    error_message = "flow_log_kms_key_arn must be a KMS key ARN."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
  nullable    = false
}
