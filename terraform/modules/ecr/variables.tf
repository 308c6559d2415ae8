variable "repositories" {
  description = "Full names of the repositories, for example `[\"colonnade\"]`: Colonnade builds one image for every process, so one repository holds it and every environment pins its own digest of it."
  type        = set(string)

  validation {
    # ECR's repository name rule (CreateRepository, repositoryName).
    condition     = length(var.repositories) > 0 && alltrue([for r in var.repositories : length(r) >= 2 && length(r) <= 256 && can(regex("^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$", r))])
    error_message = "repositories must be a non-empty set of ECR repository names (lower-case, 2-256 characters, segments separated by /)."
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
  description = "How many tagged images each repository keeps (the newest); older ones expire. Environments pin digests of this repository (staging's digest is promoted to prod), so keep it well above the number of releases any environment may still run or roll back to."
  type        = number
  default     = 1000
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
  description = "Regions the registry replicates these repositories to (disaster recovery). Replication is a registry-wide setting: one configuration per account and region, so it lives in the account root."
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
