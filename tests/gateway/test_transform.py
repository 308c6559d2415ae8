"""Header transformation rules and security headers, through the gateway to a real backend
that echoes the metadata it received (Inspect) and sends the headers it is asked to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from colonnade.gateway.errors import ConfigError
from colonnade.gateway.transform import parse_rules
from tests.gateway.conftest import Stack, start_stack
from tests.gateway.httpclient import request

RULES = """
[[rule]]
methods = ["conformance.v1.ConformanceService.Inspect"]
request_add = { "x-tenant" = "web" }
request_remove = ["user-agent", "x-secret"]
request_rename = { "x-client-version" = "client-version" }
response_add = { "cache-control" = "no-store" }
response_remove = ["grpc-metadata-x-internal-*"]

[[rule]]
methods = ["conformance.v1.ConformanceService.Echo"]
request_add = { "x-only-echo" = "1" }
"""


@pytest.fixture
async def stack(conformance_set: Path, tmp_path: Path) -> AsyncIterator[Stack]:
    rules = tmp_path / "transforms.toml"
    rules.write_text(RULES)
    s, stop = await start_stack(conformance_set, transforms_file=str(rules))
    yield s
    await stop()


async def test_request_and_response_rules_apply_to_their_method(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/inspect",
        json_body={"headers": {"x-internal-node": "n1", "x-public": "ok"}},
        headers={
            "user-agent": "curl/8",
            "grpc-metadata-x-secret": "s3",
            "x-client-version": "2.1",
            "grpc-metadata-x-tenant": "forged",
        },
    )
    assert r.status == 200, r.body
    seen = r.json()["metadata"]
    assert seen["x-tenant"] == "web"  # added, replacing the client's
    assert seen["client-version"] == "2.1"  # renamed from a header not otherwise forwarded
    assert "grpcgateway-user-agent" not in seen and "x-secret" not in seen
    assert "x-only-echo" not in seen  # another method's rule
    assert r.headers["cache-control"] == "no-store"
    assert "grpc-metadata-x-internal-node" not in r.headers
    assert r.headers["grpc-metadata-x-public"] == "ok"
    # Security headers on every answer, errors and docs included.
    for path in ("/v1/inspect", "/no/such/route", "/healthz"):
        r = await request(stack.port, "GET", path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        assert r.headers["x-frame-options"] == "DENY"


def test_malformed_rules_are_refused_naming_the_rule() -> None:
    with pytest.raises(ConfigError, match="rule 1: unknown key"):
        parse_rules({"rule": [{"methods": ["*"], "request_ad": {"a": "b"}}]})
    with pytest.raises(ConfigError, match="not printable"):
        parse_rules({"rule": [{"response_add": {"x": "caf\u00e9"}}]})
