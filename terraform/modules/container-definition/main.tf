# One ECS container definition, rendered once and used everywhere it is
# needed: the task definition (ecs-service), the root's outputs that
# scripts/k8s_manifests.py and the rehearsal read, and the tests. No
# resources, like terraform-aws-modules/ecs's container-definition module.
#
# One image runs every Colonnade process (the container command picks it),
# as uid 10001 with a read-only root filesystem; /tmp is the only writable
# path (a task volume mounted here).

locals {
  port_name = var.app_protocol == "grpc" ? "grpc" : "http"

  definition = merge(
    {
      name                   = var.name
      image                  = var.image
      command                = var.command
      essential              = true
      user                   = var.user
      readonlyRootFilesystem = true
      privileged             = false
      linuxParameters = {
        initProcessEnabled = true
        capabilities       = { add = [], drop = ["ALL"] }
      }
      environment = [for k in sort(keys(var.environment)) : { name = k, value = var.environment[k] }]
      secrets     = [for k in sort(keys(var.secrets)) : { name = k, valueFrom = var.secrets[k] }]
      mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
      # SIGTERM drains (health NOT_SERVING, in-flight calls finish); give it time.
      stopTimeout = var.stop_timeout
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = var.log_group_name
          awslogs-region        = var.log_region
          awslogs-stream-prefix = var.name
          mode                  = "non-blocking"
          max-buffer-size       = "4m"
        }
      }
    },
    var.port == null ? {} : {
      portMappings = [{
        name          = local.port_name
        containerPort = var.port
        protocol      = "tcp"
        appProtocol   = var.app_protocol
      }]
    },
    var.health_check == null ? {} : {
      healthCheck = {
        command     = var.health_check
        interval    = 15
        timeout     = 5
        retries     = 3
        startPeriod = 30
      }
    },
  )
}

# ECS refuses a task whose variable is both plain and secret.
check "no_name_is_both_plain_and_secret" {
  assert {
    condition     = length(setintersection(keys(var.environment), keys(var.secrets))) == 0
    error_message = "${var.name}: ${join(", ", setintersection(keys(var.environment), keys(var.secrets)))} is both in environment and secrets."
  }
}
