# The rendered container definition: what ECS runs and what the outputs export.

variables {
  name           = "catalog"
  image          = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  command        = ["colonnade-catalog"]
  port           = 50051
  app_protocol   = "grpc"
  environment    = { GRPC_PORT = "50051", DB_MIGRATE = "false" }
  secrets        = { API_SIGNING_KEY = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf:key::" }
  health_check   = ["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:50051"]
  log_group_name = "/colonnade-test/catalog"
  log_region     = "eu-west-1"
}

run "hardened_service_container" {
  command = plan

  assert {
    condition     = output.definition.user == "10001:10001" && output.definition.readonlyRootFilesystem && !output.definition.privileged
    error_message = "Non-root, read-only root filesystem, not privileged."
  }

  assert {
    condition     = output.definition.linuxParameters.capabilities.drop == ["ALL"]
    error_message = "Every capability is dropped."
  }

  assert {
    condition     = output.definition.mountPoints[0].containerPath == "/tmp" && output.definition.mountPoints[0].sourceVolume == "tmp"
    error_message = "/tmp is the writable volume."
  }

  assert {
    condition     = output.definition.command == tolist(["colonnade-catalog"]) && endswith(output.definition.image, "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    error_message = "The one image, pinned by digest, runs the service's console script."
  }

  assert {
    condition     = output.definition.healthCheck.command == tolist(["CMD", "colonnade-healthcheck", "grpc", "127.0.0.1:50051"])
    error_message = "The health check is the colonnade-healthcheck command, no Python in HCL."
  }

  assert {
    condition     = [for e in output.definition.environment : e.name] == ["DB_MIGRATE", "GRPC_PORT"]
    error_message = "Environment variables are sorted by name (stable task definitions, no spurious revisions)."
  }

  assert {
    condition     = output.definition.secrets[0].valueFrom == var.secrets.API_SIGNING_KEY && output.secret_arns == ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:signing-AbCdEf"]
    error_message = "Secrets come from Secrets Manager; the policy gets the secret ARN without its JSON key."
  }

  assert {
    condition     = output.definition.portMappings[0].appProtocol == "grpc" && output.port_name == "grpc"
    error_message = "The port is declared as gRPC for Service Connect."
  }
}

run "one_shot_task_has_no_port_nor_health_check" {
  command = plan

  variables {
    name         = "migrate"
    command      = ["colonnade-migrate"]
    port         = null
    health_check = null
  }

  assert {
    condition     = !contains(keys(output.definition), "portMappings") && !contains(keys(output.definition), "healthCheck") && output.port_name == null
    error_message = "A one-shot task declares neither a port nor a health check."
  }
}

run "a_tag_is_accepted_before_the_first_release" {
  command = plan

  variables {
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade:0.1.0"
  }

  assert {
    condition     = output.definition.image == var.image
    error_message = "An immutable tag is accepted."
  }
}

run "rejects_latest_short_digests_and_root" {
  command = plan

  variables {
    image        = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade:latest"
    user         = "0:0"
    health_check = ["python", "-c", "print(1)"]
  }

  expect_failures = [var.image, var.user, var.health_check]
}

run "rejects_a_malformed_digest" {
  command = plan

  variables {
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade@sha256:0123"
  }

  expect_failures = [var.image]
}

run "a_variable_both_plain_and_secret_is_reported" {
  command = plan

  variables {
    environment = { API_SIGNING_KEY = "plain" }
  }

  expect_failures = [check.no_name_is_both_plain_and_secret]
}
