# The service topology, shared by every environment: one entry per service
# (modules/platform documents the fields). Adding a service is one entry here
# and its digest in each environment's images.auto.tfvars.json (the release
# writes those).
services = {
  gateway = {
    command  = ["colonnade-gateway"]
    protocol = "http"
    port     = 8080
    # Calls the services for the callers it verified (their trusted delegate), as its
    # own app client of the environment's token issuer.
    identity = { delegate = true }
    sizing = {
      dev     = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 }
      staging = { cpu = 512, memory = 1024, min_tasks = 2, max_tasks = 4 }
      prod    = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
    }
  }
  # Catalog serves v1 and v2 of its API side by side, from the same process and data.
  catalog = {
    command       = ["colonnade-catalog"]
    protocol      = "grpc"
    port          = 50051
    grpc_packages = ["colonnade.catalog.v1", "colonnade.catalog.v2"]
    database      = true
    cache         = true
    sizing = {
      dev     = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 }
      staging = { cpu = 512, memory = 1024, min_tasks = 2, max_tasks = 4 }
      prod    = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
    }
  }
  orders = {
    command       = ["colonnade-orders"]
    protocol      = "grpc"
    port          = 50052
    grpc_packages = ["colonnade.orders.v1"]
    database      = true
    # Orders reads nothing twice that a cache would save: every read is of its own
    # rows, which change on each step, and prices come from catalog (whose cache serves them).
    cache = false
    environment = {
      # Service Connect (ECS) or the Kubernetes Service (EKS) resolves the name.
      CATALOG_TARGET = "catalog:50051"
    }
    # Its own identity for catalog's reservations, and nothing else.
    identity = { scopes = ["catalog.reservations.write"] }
    sizing = {
      dev     = { cpu = 256, memory = 512, min_tasks = 1, max_tasks = 2 }
      staging = { cpu = 512, memory = 1024, min_tasks = 2, max_tasks = 4 }
      prod    = { cpu = 1024, memory = 2048, min_tasks = 3, max_tasks = 12 }
    }
  }
}
