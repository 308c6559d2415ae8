"""The documents served by a live gateway in front of the real catalog: fuzzed and rendered.

* the gateway serves what the generator produces (`/openapi.json`, `/swagger.json`);
* schemathesis fuzzes every operation from the served OpenAPI 3 document: no 5xx, and
  every status, content type and body matches what the document declares;
* the `/docs` page renders in headless Chromium and lists every operation.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from colonnade.gateway.openapi import generate
from colonnade_tools.devstack.system import CHROMIUM_HINT, find_chromium
from tests.authkit import AuthKit
from tests.conftest import CATALOG_DESCRIPTORS as CATALOG_SET
from tests.conftest import serving_gateway
from tests.gateway import test_policies
from tests.gateway.httpclient import request
from tests.hostile import Tally

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
#: The policy tests' fixtures: a token issuer's keys, and services that enforce the policies.
kit = test_policies.kit
backends = test_policies.backends


async def test_gateway_serves_the_generated_documents(gateway_port: int) -> None:
    r = await request(gateway_port, "GET", "/openapi.json")
    assert r.status == 200
    assert r.json() == generate([CATALOG_SET], "openapi3")
    r = await request(gateway_port, "GET", "/swagger.json")
    assert r.status == 200 and r.json()["swagger"] == "2.0"
    r = await request(gateway_port, "GET", "/docs")
    assert r.status == 200 and b"swagger-ui-bundle.js" in r.body
    r = await request(gateway_port, "GET", "/docs/swagger-ui-bundle.js")
    assert r.status == 200 and len(r.body) > 100_000  # the real asset, from the wheel
    r = await request(gateway_port, "GET", "/docs/../../etc/passwd")
    assert r.status == 404
    r = await request(gateway_port, "POST", "/openapi.json")
    assert r.status == 404


async def schemathesis(
    base: str,
    tmp_path: Path,
    *,
    examples: str,
    phases: str = "examples,coverage,fuzzing",
    headers: Sequence[str] = (),
    checks: str = "",
    name: str = "run",
) -> str:
    """Runs the schemathesis CLI over every operation of the served OpenAPI 3 document; fails
    on any failed check; returns its output."""
    report = tmp_path / f"{name}.ndjson"
    # Generation must not depend on what earlier tests left in the shared database. By
    # default the fuzzer reuses values seen in responses: after the orders tests, ListOrders
    # answers carry `"product": "products/…"`, which it then offers for the `{product}` path
    # parameter, filters out (a `/` in one segment) and fails Hypothesis' filter_too_much
    # health check on GET/PATCH /v1/products/{product}. Generated data only, then.
    config = tmp_path / f"{name}.toml"
    config.write_text("[phases.fuzzing.extra-data-sources]\nresponses = false\n")
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{base}/openapi.json",
        "--url",
        base,
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_schema_conformance,response_headers_conformance" + checks,
        "--max-examples",
        examples,
        "--seed",
        "20261124",
        "--phases",
        phases,
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
    ]
    for header in headers:
        command += ["--header", header]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), 600)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    print(text[-3000:])  # the summary: shown with -s, or when a later assertion fails
    tested = re.search(r"(\d+) generated, (\d+) passed", text)
    assert tested is not None, text[-3000:]
    assert tested.group(1) == tested.group(2)
    tally = Tally(f"schemathesis-{name}")  # every case passed every check: no 5xx, conforming
    tally.add("no 5xx, conforming", int(tested.group(1)))
    tally.done(allowed=("no 5xx",))
    # every catalog v1 (5), catalog v2 (5) and orders (6) operation was exercised
    assert "Tested: 16" in text
    return text


async def test_schemathesis_fuzz_finds_no_server_errors_or_schema_mismatches(
    gateway_port: int, tmp_path: Path
) -> None:
    base = f"http://127.0.0.1:{gateway_port}"
    examples = os.environ.get("COLONNADE_FUZZ_EXAMPLES", "40")
    text = await schemathesis(base, tmp_path, examples=examples, name="no-policies")
    tested = re.search(r"(\d+) generated, (\d+) passed", text)
    assert tested is not None and int(tested.group(1)) >= 100


#: Every scope the contracts name: the signed-in run may call every operation.
ALL_SCOPES = (
    "catalog.products.write",
    "catalog.reservations.write",
    "orders.read",
    "orders.write",
    "orders.ship",
)
#: Limits no fuzz run reaches (429 is documented, but it would hide the operations behind it).
UNTHROTTLED = [
    "read=100000/1000000",
    "write=100000/1000000",
    "standard=100000/1000000",
    "internal=100000/1000000",
]


async def test_schemathesis_with_and_without_credentials_against_enforcing_services(
    backends: tuple[str, str], kit: AuthKit, tmp_path: Path
) -> None:
    """The gateway with its edge policies, in front of services that check tokens too: every
    operation fuzzed anonymously (the protected ones must answer their documented 401) and
    with a token holding every scope, then statefully (links Schemathesis infers from the
    documents' resources and path parameters), with `ignored_auth` checking that a protected
    operation called without the token is refused."""
    catalog, orders = backends
    async with serving_gateway(
        catalog, orders, **kit.gateway_config(), rate_limits=UNTHROTTLED
    ) as (port, _app):
        base = f"http://127.0.0.1:{port}"
        examples = os.environ.get("COLONNADE_FUZZ_AUTH_EXAMPLES", "12")
        # Generation-heavy phases (examples, coverage) run in the test above already, against
        # the same services; here the fuzzing phase, then the stateful one with credentials.
        await schemathesis(base, tmp_path, examples=examples, phases="fuzzing", name="anonymous")
        token = kit.token("fuzzer", *ALL_SCOPES, ttl=1800)
        await schemathesis(
            base,
            tmp_path,
            examples=examples,
            phases="fuzzing,stateful",
            headers=[f"Authorization: Bearer {token}"],
            checks=",ignored_auth",
            name="bearer",
        )


async def test_docs_page_renders_every_operation_in_chromium(gateway_port: int) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.fail(CHROMIUM_HINT)
    profile = tempfile.mkdtemp(prefix="colonnade-chromium-")
    try:
        process = await asyncio.create_subprocess_exec(
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"http://127.0.0.1:{gateway_port}/docs",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        dom, errors = await asyncio.wait_for(process.communicate(), 120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    html = dom.decode(errors="replace")
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]
    document = json.loads(json.dumps(generate([CATALOG_SET], "openapi3")))
    for path, item in document["paths"].items():
        for method, op in item.items():
            # Swagger UI renders one block per operation, with its id, method and path; the
            # id is CSS-escaped (the full service names that tell two catalogs apart have dots).
            tag = op["tags"][0].replace(".", "\\.")
            assert f"operations-{tag}-{op['operationId']}" in html, (method, path)
    assert "Colonnade API" in html
