# The two commands a newcomer needs: `make run` and `make test`.
# Everything else is a step they call, or a check CI calls the same way.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help venv gen openapi system-deps setup run status diagrams screenshots check test test-fast lint fmt typecheck bench clean \
	release rehearse breaking image base-image lock

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# requirements/dev.txt pins every development dependency (`make lock`): pip installs the same
# versions on every machine and, given only exact pins, never backtracks through checkov's tree.
$(STAMP): pyproject.toml setup.py tools/pyproject.toml requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/dev.txt -e '.[dev]' -e tools
	@touch $@

venv: $(STAMP) ## create .venv and install the project with its dev extras

gen: venv ## generate protobuf stubs and the descriptor set from proto/
	$(PY) scripts/gen.py

openapi: gen ## regenerate the committed OpenAPI documents in openapi/
	$(PY) -m colonnade_tools.openapi_docs

system-deps: venv ## install memcached (and, for tests, chromium and go + grpc-go; for make diagrams, graphviz) when missing (Debian)
	$(PY) -m colonnade_tools.devstack.system $(if $(filter test,$(MAKECMDGOALS)),--for-tests)

setup: gen system-deps

# The stack prints how long it took to be ready counted from here, the setup steps included.
run: export COLONNADE_RUN_STARTED := $(shell date +%s.%N)
run: setup ## run the whole system locally (PostgreSQL, memcached, services, gateway)
	$(PY) -m colonnade_tools.devstack

status: venv ## each component of the running local stack: health and address
	@$(PY) -m colonnade_tools.devstack.status

diagrams: venv ## render docs/*.dot (the README's architecture picture) to SVG with Graphviz
	$(PY) -m colonnade_tools.devstack.system --for-docs
	$(PY) -m colonnade_tools.diagrams

# The browser test's shop scenario saves its screenshot where COLONNADE_SCREENSHOTS says.
screenshots: setup ## refresh docs/shop.png, the README's screenshot, with the browser test
	$(PY) -m colonnade_tools.devstack.system --for-browser
	COLONNADE_SCREENSHOTS=docs $(PY) -m pytest -q -p no:cacheprovider tests/e2e/test_web_ui.py \
		-k test_shop_order_confirmed_live_cancelled_and_the_stock_returns

check: ## what CI runs (.ci/run): make lint, then make test
	$(MAKE) lint
	$(MAKE) test

# One pytest-xdist worker per core (TEST_WORKERS=1 for one process); each test file is one group,
# so a file's session fixtures (PostgreSQL, one module's Terraform applies) are built by one worker.
TEST_WORKERS ?= auto
test: setup ## run every test (on every core)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

breaking: gen ## compare every published proto package with proto/released/ (the breaking-change gate)
	$(PY) -m colonnade_tools.breaking

# mypy reads the generated stubs (*_pb2.pyi), so lint needs code generation first.
lint: gen ## ruff lint and format check, mypy (strict for the packages; tests/ and scripts/ too)
	$(PY) -m ruff check services tools tests scripts
	$(PY) -m ruff format --check services tools tests scripts
	$(PY) -m mypy

fmt: venv ## format the code
	$(PY) -m ruff format services tools tests scripts
	$(PY) -m ruff check --fix services tools tests scripts

typecheck: gen ## mypy alone (part of make lint)
	$(PY) -m mypy

bench: setup ## REST via the gateway vs gRPC and grpc-gateway (Go); orders/s vs the asyncpg floor; edge policies' and metrics+tracing's cost: build/bench/
	$(PY) scripts/bench.py $(BENCH_ARGS)
	$(PY) scripts/bench_orders.py
	$(PY) scripts/bench_policies.py
	$(PY) scripts/bench_observability.py

image: venv ## build the one container image (docker or podman; BASE_IMAGE=… to choose the base)
	$(VENV)/bin/colonnade-image $(if $(BASE_IMAGE),--base $(BASE_IMAGE))

base-image: venv ## build the Debian-based Python base image used when none can be pulled
	$(PY) -m colonnade_tools.base_image

release: venv ## build, push to REPOSITORY (the account's ECR repository URL) and pin the digest in ENV's image file
	$(VENV)/bin/colonnade-release $(ENV) --repository $(REPOSITORY)

rehearse: setup ## run ENV's ECS task definitions (ENV=dev|staging|prod, applied to moto) here, against TLS PostgreSQL and memcached
	$(PY) -m pytest "tests/terraform/test_rehearsal.py::test_rehearsal[$(or $(ENV),dev)]" -s -p no:cacheprovider

UV_COMPILE = UV_NATIVE_TLS=1 $(VENV)/bin/uv pip compile --universal --python-version 3.11 \
	--quiet --custom-compile-command 'make lock'
lock: venv ## re-resolve requirements/image.txt (the image, hash-pinned) and requirements/dev.txt (the venv)
	$(UV_COMPILE) pyproject.toml --extra aws --generate-hashes -o requirements/image.txt
	$(UV_COMPILE) requirements/dev.in --no-emit-package colonnade --no-emit-package colonnade-tools \
		-o requirements/dev.txt

clean: ## remove the virtualenv, generated code and local data
	rm -rf $(VENV) .local build *.egg-info
	find services -name '*_pb2*.py*' -delete
	rm -f services/colonnade/descriptors/*.binpb services/colonnade/descriptors/.inputs.sha256
