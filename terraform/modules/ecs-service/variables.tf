variable "name" {
  description = "Service name (for example `catalog`); also the container name and the Service Connect discovery name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}$", var.name))
    error_message = "name must be 1-31 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "name_prefix" {
  description = "Prefix of the IAM roles, security group and task family (for example `colonnade-prod`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of lower-case letters, digits and hyphens."
  }
}

variable "cluster_arn" {
  description = "ARN of the ECS cluster."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster (used in the autoscaling resource id)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnet IDs keyed by Availability Zone (the network module's `private_subnet_ids`). ECS spreads the tasks evenly over these AZs."
  type        = map(string)

  validation {
    condition     = length(var.subnet_ids) >= 3
    error_message = "Tasks must be spread over at least three AZs' subnets."
  }
}

variable "container_definition" {
  description = "The task's one container, as rendered by the container-definition module (ECS field names: image, command, environment, secrets, healthCheck, user, ...). Its name must be var.name."
  type        = any
}

variable "image_repository_arn" {
  description = "ARN of the ECR repository the image comes from (the execution role may pull from it only)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ecr:[a-z0-9-]+:[0-9]{12}:repository/.+$", var.image_repository_arn))
    error_message = "image_repository_arn must be an ECR repository ARN."
  }
}

variable "secret_arns" {
  description = "Secrets Manager secrets the container reads (the container-definition module's `secret_arns`); the execution role may read exactly these."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "create_service" {
  description = "Run the task definition as a service (load balancers, Service Connect, autoscaling). False registers only the task definition, its roles and security group, for one-shot tasks started with `ecs run-task` (the database bootstrap)."
  type        = bool
  default     = true
  nullable    = false
}

variable "cpu" {
  description = "Task CPU units (Fargate sizes: 256, 512, 1024, 2048, 4096, 8192, 16384)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.cpu)
    error_message = "cpu must be a Fargate CPU size."
  }
}

variable "memory" {
  description = "Task memory in MiB (must be a valid Fargate combination with cpu)."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 122880
    error_message = "memory must be between 512 and 122880 MiB."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture the image is built for: X86_64 or ARM64 (Graviton). ARM64 tasks cannot run on FARGATE_SPOT."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["ARM64", "X86_64"], var.cpu_architecture)
    error_message = "cpu_architecture must be ARM64 or X86_64."
  }
}

variable "container_port" {
  description = "Port the container listens on (null for a one-shot task, create_service = false)."
  type        = number
  default     = 50051

  validation {
    condition     = var.container_port == null || try(var.container_port > 0 && var.container_port < 65536, false)
    error_message = "container_port must be a TCP port."
  }
}

variable "app_protocol" {
  description = "Protocol of container_port: `grpc` (gRPC services) or `http` (the REST gateway). Service Connect uses it for protocol-aware load balancing and metrics."
  type        = string
  default     = "grpc"

  validation {
    condition     = contains(["grpc", "http", "http2"], var.app_protocol)
    error_message = "app_protocol must be grpc, http or http2."
  }
}

variable "service_connect_namespace_arn" {
  description = "Service Connect namespace ARN. Every service is a client of the namespace; see publish_in_namespace. Unused without a service."
  type        = string
  default     = null
}

variable "publish_in_namespace" {
  description = "Publish the service in the Service Connect namespace as `<name>:<container_port>` so other services reach it by name."
  type        = bool
  default     = true
  nullable    = false
}

variable "secrets_kms_key_arns" {
  description = "KMS keys that encrypt the secrets (the execution role gets kms:Decrypt on them, through Secrets Manager only)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "log_group_name" {
  description = "CloudWatch Logs group of the Service Connect proxy (the container's own log configuration is in container_definition); created by the observability module, with retention and KMS."
  type        = string
}

variable "log_group_arn" {
  description = "ARN of log_group_name (scopes the execution role's write permission)."
  type        = string
}

variable "load_balancers" {
  description = "Target groups the service registers with, keyed by a stable name: `{ http = { target_group_arn = ..., container_port = 8080 } }`."
  type = map(object({
    target_group_arn = string
    container_port   = number
  }))
  default  = {}
  nullable = false
}

variable "ingress_security_group_ids" {
  description = "Security groups allowed to reach container_port, keyed by a stable name (for example `{ alb = sg-..., gateway = sg-... }`)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "ingress_cidr_blocks" {
  description = "CIDR blocks allowed to reach container_port (the VPC CIDR for Service Connect clients), keyed by a stable name."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "desired_count" {
  description = "Initial task count. Autoscaling owns the count afterwards (Terraform ignores later drift), between min_capacity and max_capacity."
  type        = number
  default     = 3

  validation {
    condition     = var.desired_count >= 0 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a non-negative integer."
  }
}

variable "min_capacity" {
  description = "Autoscaling floor. Use at least 2 in prod (3 spreads one task per AZ)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a positive integer."
  }
}

variable "max_capacity" {
  description = "Autoscaling ceiling."
  type        = number
  default     = 6

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 1000
    error_message = "max_capacity must be between 1 and 1000."
  }
}

variable "cpu_target_percent" {
  description = "Target average CPU utilisation for target-tracking scaling."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_percent >= 10 && var.cpu_target_percent <= 95
    error_message = "cpu_target_percent must be between 10 and 95."
  }
}

variable "requests_per_target" {
  description = "Target ALB requests per task per minute for request-count scaling; null disables it. Needs alb_resource_label."
  type        = number
  default     = null

  validation {
    condition     = var.requests_per_target == null || try(var.requests_per_target >= 1, false)
    error_message = "requests_per_target must be positive."
  }
}

variable "alb_resource_label" {
  description = "`<alb arn_suffix>/<target group arn_suffix>` of the target group whose request count drives scaling."
  type        = string
  default     = null
}

variable "capacity_provider_strategy" {
  description = "Capacity provider strategy (the cluster module's `capacity_provider_strategy` output)."
  type = list(object({
    capacity_provider = string
    base              = number
    weight            = number
  }))
  default  = [{ capacity_provider = "FARGATE", base = 1, weight = 1 }]
  nullable = false
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower bound of running tasks during a rolling deployment, in percent of the desired count."
  type        = number
  default     = 100
  nullable    = false
}

variable "deployment_maximum_percent" {
  description = "Upper bound of running tasks during a rolling deployment, in percent of the desired count."
  type        = number
  default     = 200
  nullable    = false
}

variable "health_check_grace_period_seconds" {
  description = "Seconds ECS ignores load balancer health checks after a task starts (only used with load_balancers)."
  type        = number
  default     = 60
  nullable    = false
}

variable "enable_execute_command" {
  description = "Allow ECS Exec into the tasks (audited through the cluster's encrypted exec log group)."
  type        = bool
  default     = false
  nullable    = false
}

variable "db_iam_auth" {
  description = "Aurora IAM authentication for the task role: the cluster resource ID and the database user the service connects as. Null grants nothing."
  type = object({
    cluster_resource_id = string
    db_user             = string
  })
  default = null
}

variable "sidecar_definitions" {
  description = "More container definitions for the task, after the service's own (for example the ADOT collector that forwards the service's spans to X-Ray)."
  type        = list(any)
  default     = []
  nullable    = false
}

variable "xray_tracing" {
  description = "Let the task role send traces to X-Ray (the ADOT collector sidecar's X-Ray exporter)."
  type        = bool
  default     = false
  nullable    = false
}

variable "wait_for_steady_state" {
  description = "Make `terraform apply` wait until the deployment is steady (fails the apply when the circuit breaker rolls back)."
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
