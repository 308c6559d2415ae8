"""The `make lambda` zip, unpacked into a clean Python 3.11 virtualenv with nothing else
installed, imports both handlers and answers events: a GET against the real PostgreSQL
through `colonnade.serverless.handler`, and a token through
`colonnade.gateway.authorizer.handler`.

The zip is built once per set of inputs (colonnade_tools.lambda_zip keys it by the pins, the
sources and the target) and reused afterwards, so this file costs the unpacking and two
cold starts once the zip exists.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.lambda_zip import PROXY_CA_FILE, PROXY_ROOTS, build, ca_names
from tests.authkit import AuthKit
from tests.serverless.apigw import http_event, rest_event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

SCRIPT = r"""
import json, sys, time
task = sys.argv[1]
sys.path.insert(0, task)  # what Lambda does with LAMBDA_TASK_ROOT
started = time.perf_counter()

class Context:
    def get_remaining_time_in_millis(self):
        return 10_000

events = json.loads(sys.stdin.read())
import colonnade.serverless
from colonnade.gateway import authorizer
out = {"files": [colonnade.serverless.__file__, authorizer.__file__]}
out["api"] = [colonnade.serverless.handler(e, Context()) for e in events["api"]]
out["cold_ms"] = (time.perf_counter() - started) * 1000
out["authorizer"] = authorizer.handler(events["authorizer"], Context())
try:
    authorizer.handler({**events["authorizer"], "headers": {}}, Context())
except Exception as exc:
    out["refused"] = str(exc)
out["site"] = [p for p in sys.path if "site-packages" in p]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the clean virtualenv's python, the unpacked zip)."""
    built = build("3.11", "x86_64")
    assert built.zipped < 50 * 1024 * 1024 and built.unzipped < 250 * 1024 * 1024
    root = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(root / "task")
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(root / "venv")
    return root / "venv" / "bin" / "python", root / "task"


def test_the_zip_serves_the_api_and_the_authorizer_in_a_clean_virtualenv(
    unpacked: tuple[Path, Path], database_url: str, memcached: Any, tmp_path: Path
) -> None:
    python, task = unpacked
    kit = AuthKit(tmp_path / "auth")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "CACHE_URL": memcached.url,
        "DB_STATEMENT_CACHE_SIZE": "0",
        "LOG_ACCESS": "false",
        "LOG_LEVEL": "INFO",
        "COLONNADE_GATEWAY_POLICIES": "false",
        "AWS_LAMBDA_FUNCTION_NAME": "colonnade-test",  # Lambda sets it: JSON logs on stdout
        **{k.upper(): v for k, v in kit.service_env().items()},
    }
    arn = "arn:aws:execute-api:eu-west-1:123456789012:api1234/prod/GET/v1/products"
    events = {
        "api": [
            rest_event("GET", "/v1/products?pageSize=1"),
            http_event("GET", "/v1/products/does-not-exist"),
            http_event("GET", "/openapi.json"),
        ],
        "authorizer": {
            "type": "REQUEST",
            "methodArn": arn,
            "headers": {"Authorization": "Bearer " + kit.token("alice", "catalog.read")},
        },
    }
    result = subprocess.run(
        [str(python), "-I", "-c", SCRIPT, str(task)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    *logs, last = result.stdout.strip().splitlines()
    out = json.loads(last)
    records = [json.loads(line) for line in logs]  # every log line is one JSON record
    assert any(
        r["service"] == "colonnade-lambda" and r["message"] == "cold start done" for r in records
    ), logs
    assert "cold start done" not in result.stderr  # once, not again through another handler
    assert all(f.startswith(str(task)) for f in out["files"]), out["files"]
    # nothing but the venv's own, empty site-packages (not this test's virtualenv)
    assert all(str(python.parent.parent) in p for p in out["site"]), out["site"]
    assert sys.prefix not in " ".join(out["site"])
    ok, missing, docs = out["api"]
    assert ok["statusCode"] == 200 and "products" in json.loads(ok["body"])
    assert missing["statusCode"] == 404 and json.loads(missing["body"])["code"] == 5
    assert docs["statusCode"] == 200 and "paths" in json.loads(docs["body"])
    policy = out["authorizer"]
    assert policy["principalId"] == "alice"
    statement = policy["policyDocument"]["Statement"][0]
    assert statement["Effect"] == "Allow"
    assert any(r.endswith("/GET/v1/products") for r in statement["Resource"])
    assert out["refused"] == "Unauthorized"


def test_the_zip_carries_the_roots_rds_proxy_chains_to(unpacked: tuple[Path, Path]) -> None:
    """The function's sslrootcert: ACM's roots (Amazon Trust Services), which RDS Proxy's
    certificate chains to; the RDS CAs the containers trust are Aurora's own, not the proxy's."""
    _, task = unpacked
    context = ssl.create_default_context(cafile=task / PROXY_CA_FILE)
    names = ca_names(context)
    assert names == list(PROXY_ROOTS)
    assert "Amazon Root CA 1" in names  # the one AWS's RDS Proxy guide names


def test_the_python_312_zip_builds_from_wheels_amazon_linux_2023_can_load(tmp_path: Path) -> None:
    """SnapStart needs Python 3.12+, whose runtime is Amazon Linux 2023 (glibc 2.34): the
    build takes manylinux wheels up to 2.34 (asyncpg 0.32's cp312 wheels are 2.28 only).
    Not run here: no Python 3.12 on this machine to import it with."""
    built = build("3.12", "x86_64", out=tmp_path)
    assert built.zipped < 50 * 1024 * 1024 and built.unzipped < 250 * 1024 * 1024
    with zipfile.ZipFile(built.path) as zf:
        wheels = [
            line.split()[1]
            for name in zf.namelist()
            if name.endswith(".dist-info/WHEEL")
            for line in zf.read(name).decode().splitlines()
            if line.startswith("Tag:")
        ]
        modules = [n for n in zf.namelist() if n.endswith(".so")]
        assert PROXY_CA_FILE in zf.namelist()
    assert any(n.startswith("asyncpg/") and "cpython-312" in n for n in modules), modules
    for tag in wheels:
        python, abi, platform = tag.split("-")
        assert python in ("py3", "cp312") or abi == "abi3", tag
        glibc = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
        assert platform in ("any", "manylinux1_x86_64", "manylinux2014_x86_64") or (
            glibc is not None and (int(glibc[1]), int(glibc[2])) <= (2, 34)
        ), tag
