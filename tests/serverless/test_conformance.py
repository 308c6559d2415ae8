"""The gateway's conformance requests a second time, through the Lambda handler's event path
with the conformance servicer called in process: the answers equal the gateway's.

The gateway side is the conformance stack of tests/gateway (servicer behind grpc.aio, the
gateway over real sockets); the Lambda side is `serve_event` on a Gateway whose backend is an
InProcessServer holding the same servicer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from colonnade.gateway.app import Gateway
from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.descriptors import load_registry
from colonnade.serverless.function import serve_event
from colonnade.serverless.inprocess import STREAMING_UNSUPPORTED, InProcessBackends, InProcessServer
from tests.gateway.conftest import Stack, start_stack
from tests.gateway.protos import compile_conformance
from tests.serverless.apigw import http_event, rest_event, result_body
from tests.serverless.parity import Case, assert_same

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

CORS = ["https://app.example"]


@pytest.fixture(scope="module")
def conformance_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_conformance(tmp_path_factory.mktemp("conformance"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stacks(conformance_set: Path) -> AsyncIterator[tuple[Stack, Gateway]]:
    """The conformance stack (gateway over gRPC) and an in-process gateway on its servicer."""
    from conformance.v1 import conformance_pb2_grpc

    stack, stop = await start_stack(conformance_set, cors_origins=CORS)
    server = InProcessServer()
    conformance_pb2_grpc.add_ConformanceServiceServicer_to_server(stack.servicer, server)
    cfg = GatewayConfig(
        descriptors=[str(conformance_set)],
        backends=["*=in-process"],
        policies=False,
        cors_origins=CORS,
    )
    app = Gateway(cfg, load_registry(cfg.descriptors), backends=InProcessBackends(server))
    await app.startup()
    yield stack, app
    await app.shutdown()
    await stop()


THING = {"id": "t1", "name": "things/t1", "size": "7"}

CASES = [
    Case("GET", "/v1/things/a%2Fb%20c", rest=False),  # REST events decode %2F: see events.py
    Case("GET", "/v1/things/plain%20id"),
    Case("GET", "/v1/shelves/s1/things/t%20x?view=full"),
    Case("GET", "/v1/alt/a/b/c"),
    Case("POST", "/v1/alt/x/y:lookup", json_body={"view": "v"}),
    Case("GET", "/v1/wild/anything/things/7"),
    Case("HEAD", "/v1/things/h1"),
    Case("POST", "/v1/things?name=ignored", json_body=THING),
    Case("PATCH", "/v1/things/p1?updateMask=name", json_body={"name": "n"}),
    Case("GET", "/v1/things?pageSize=3&tags=x&tags=y"),  # multi-value query string
    Case("DELETE", "/v1/things/d1"),
    Case("GET", "/v1/echo?mString=x&nope[k]=1"),
    Case("GET", "/v1/echo?nope=1&fInt32=2"),
    Case("GET", "/v1/many/1,2,3/sizes/4,5"),
    Case("POST", "/v1/abc:custom:custom", json_body={}),
    Case("GET", "/v1/fail/notanumber"),
    Case("GET", "/v1/fail/3"),
    Case("GET", "/v1/fail/9"),
    Case("GET", "/v1/fail/16"),
    Case("GET", "/v1/things/missing"),
    Case("POST", "/conformance.v1.ConformanceService/Hidden"),
    Case("GET", "/v2/nothing"),
    Case("POST", "/v1/things/x"),
    Case("POST", "/v1/things", body=b"{not json", headers=[("content-type", "application/json")]),
    Case("POST", "/v1/things", body=b"x", headers=[("content-type", "text/plain")]),
    Case("GET", "/v1/things/x", headers=[("grpc-timeout", "bad")]),
    Case("GET", "/v1/things/c", headers=[("origin", "https://app.example")]),
    Case("GET", "/v1/things/c", headers=[("origin", "https://evil.example")]),
    Case(
        "OPTIONS",
        "/v1/things/c",
        headers=[("origin", "https://app.example"), ("access-control-request-method", "GET")],
    ),
    # repeated headers: multiValueHeaders (REST) and comma-joined (HTTP API)
    Case(
        "GET",
        "/v1/things/m",
        headers=[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "198.51.100.2")],
    ),
    # a binary body, base64 in the event
    Case(
        "POST",
        "/v1/blobs/b1:upload",
        body=b"\x00raw \xffbytes",
        binary=True,
        headers=[("content-type", "application/x-thing")],
    ),
    Case("GET", "/healthz"),
    Case("GET", "/readyz"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.target}")
async def test_handler_answers_as_the_gateway(stacks: tuple[Stack, Gateway], case: Case) -> None:
    stack, app = stacks

    async def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return await serve_event(app, event)

    await assert_same(stack.port, invoke, case)


async def test_inspect_sees_the_same_call_metadata(stacks: tuple[Stack, Gateway]) -> None:
    """Headers become the same call metadata (Grpc-Metadata-*, authorization, the client
    address as x-forwarded-for), only the transport's own keys differ."""
    stack, app = stacks
    headers = [
        ("grpc-metadata-color", "blue"),
        ("authorization", "Bearer t"),
        ("x-request-id", "fixed-id"),
    ]

    def seen() -> dict[str, Any]:  # a trace is started per request: its id differs
        return {k: v for k, v in stack.servicer.last_metadata.items() if k != "traceparent"}

    await serve_event(app, http_event("POST", "/v1/inspect", headers, b"{}"))
    in_process = seen()
    await serve_event(app, rest_event("POST", "/v1/inspect", headers, b"{}"))
    assert seen() == in_process
    assert in_process["color"] == "blue" and in_process["authorization"] == "Bearer t"
    assert in_process["x-request-id"] == "fixed-id"
    assert in_process["x-forwarded-for"] == "203.0.113.7"  # the event's source address


@pytest.mark.parametrize("target", ["/v1/things:stream?count=2", "/v1/blobs/x:download"])
async def test_server_streaming_is_a_clear_501(stacks: tuple[Stack, Gateway], target: str) -> None:
    _stack, app = stacks
    for make in (rest_event, http_event):
        result = await serve_event(app, make("GET", target))
        assert result["statusCode"] == 501
        import json

        body = json.loads(result_body(result))
        assert body["code"] == 12 and body["message"] == STREAMING_UNSUPPORTED


async def test_base_path_and_stage_prefixes_are_removed(stacks: tuple[Stack, Gateway]) -> None:
    _stack, app = stacks
    event = http_event("GET", "/api/v1/things/s1", stage="$default")
    result = await serve_event(app, event, base_path="/api")
    assert result["statusCode"] == 200 and b'"id":"s1"' in result_body(result)
    result = await serve_event(app, http_event("GET", "/v1/things/s2", stage="beta"))
    assert result["statusCode"] == 200 and b'"id":"s2"' in result_body(result)
    event = rest_event("GET", "/api/v1/things/s3")
    result = await serve_event(app, event, base_path="/api")
    assert result["statusCode"] == 200 and b'"id":"s3"' in result_body(result)
