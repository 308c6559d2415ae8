# syntax=docker/dockerfile:1.7
#
# One image runs every Colonnade process: the container's command picks it
# (colonnade-catalog, colonnade-gateway, colonnade-migrate; colonnade-healthcheck
# is the health check of all of them). Why one image and not one per service:
# BUILD.md, "Images".
#
#   make image                      # docker or podman, whichever works here
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm -t colonnade .
#
# BASE_IMAGE must provide python3 (3.11+) with the venv module. The default is
# the official slim image; `make image` on a machine that cannot pull images
# builds an equivalent base from Debian packages first (tools/base-image).

ARG BASE_IMAGE=python:3.11-slim-bookworm

################################################################################
# Builder: resolve the locked dependencies and build the project's wheel.
################################################################################
FROM ${BASE_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python3 -m venv /opt/colonnade

# Dependencies first, from the hash-pinned lock: this layer is rebuilt only
# when the lock changes. A build behind a TLS-intercepting proxy can hand pip
# the proxy's CA as the optional secret `ca-bundle` (never stored in a layer).
COPY requirements/image.txt /tmp/image.txt
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    /opt/colonnade/bin/pip install --require-hashes --no-deps -r /tmp/image.txt

# What builds the wheel (setuptools, grpcio-tools), hash-pinned too, in a venv of its own
# that never reaches the runtime stage; the wheel is built without build isolation, which
# would fetch these unchecked.
COPY requirements/build.txt /tmp/build.txt
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    --mount=type=secret,id=ca-bundle,required=false \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; fi; \
    python3 -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps -r /tmp/build.txt

# The project itself: its wheel generates the protobuf code (setup.py hook).
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md ./
COPY scripts/gen.py scripts/gen.py
COPY proto proto
COPY services services
RUN --mount=type=cache,target=/root/.cache/pip,sharing=locked \
    /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && /opt/colonnade/bin/pip install --no-deps --no-index /wheels/colonnade-*.whl \
    && /opt/colonnade/bin/pip uninstall --yes --quiet pip setuptools \
    && find /opt/colonnade -depth \( -name __pycache__ -o -name tests -o -name '*.pyx' \
         -o -name '*.c' -o -name '*.h' \) -prune -exec rm -rf {} + \
    && /opt/colonnade/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/colonnade/lib

################################################################################
# Runtime: the venv, the CA bundle for Aurora, nothing else.
################################################################################
FROM ${BASE_IMAGE}

ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/colonnade/colonnade
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="colonnade" \
      org.opencontainers.image.description="Colonnade gRPC services, REST gateway and database bootstrap" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"

COPY --from=builder /opt/colonnade /opt/colonnade
# The RDS CA bundle (sslrootcert of DATABASE_URL in AWS): the release puts
# AWS's bundle into image/certs/ before building (image/certs/README.md); a
# local build carries whatever is there, and the rehearsal mounts its own CA.
COPY image/certs/ /etc/colonnade/certs/

ENV PATH=/opt/colonnade/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Not root, and nothing to write but /tmp (ECS: readonlyRootFilesystem and a
# /tmp volume; Kubernetes: readOnlyRootFilesystem and an emptyDir).
USER 10001:10001
WORKDIR /tmp

# For docker/podman run; ECS and Kubernetes use their own health checks, which
# call the same command with explicit arguments.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["colonnade-healthcheck", "auto"]

EXPOSE 8080 50051
CMD ["colonnade-gateway"]
