variable "name_prefix" {
  description = "Prefix of every repository name (for example `colonnade`); repositories are named `<name_prefix>/<service>`."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,40}$", var.name_prefix))
    error_message = "name_prefix must be 2-41 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "repositories" {
  description = "Service images that get a repository, for example `[\"gateway\", \"catalog\", \"orders\"]`."
  type        = set(string)

  validation {
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : can(regex("^[a-z][a-z0-9-]{0,62}$", r))])
    error_message = "repositories must be a non-empty set of lower-case names."
  }
}

variable "untagged_expiry_days" {
  description = "Untagged images (dangling layers of superseded builds) are expired after this many days."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition     = var.untagged_expiry_days >= 1 && var.untagged_expiry_days <= 365
    error_message = "untagged_expiry_days must be between 1 and 365."
  }
}

variable "max_tagged_images" {
  description = "How many tagged images each repository keeps (the newest); older ones expire. Keep it above the number of tags any environment may roll back to."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.max_tagged_images >= 10 && var.max_tagged_images <= 10000
    error_message = "max_tagged_images must be between 10 and 10000."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the images. Null creates a customer managed key with rotation."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN."
  }
}

variable "replication_regions" {
  description = "Regions the registry replicates every repository under name_prefix to (disaster recovery). Replication is a registry-wide setting: enable it from exactly one root per account (prod)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for r in var.replication_regions : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", r))])
    error_message = "replication_regions must be region names such as eu-central-1."
  }
}

variable "force_delete" {
  description = "Allow Terraform to delete repositories that still hold images (dev only)."
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
