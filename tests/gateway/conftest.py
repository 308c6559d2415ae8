"""Fixtures of the gateway tests: the compiled conformance proto, the gateway registry, the
conformance stacks (run once per gRPC client: the own `native` one and `grpcio`), and the
scripted HTTP/2 servers of h2server.py."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from colonnade.gateway.descriptors import Registry, load_registry
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.rpc import CLIENTS
from tests.gateway.h2server import H2Server, Handler, StartServer
from tests.gateway.protos import compile_conformance


@pytest.fixture(scope="session", params=CLIENTS)
def grpc_client(request: pytest.FixtureRequest) -> str:
    """The gateway's gRPC client: every test using it runs with each (rpc.CLIENTS)."""
    return str(request.param)


@pytest.fixture(scope="session")
def conformance_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conformance descriptor set; its _pb2 modules are importable afterwards."""
    return compile_conformance(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="session")
def pb(conformance_set: Path):  # type: ignore[no-untyped-def]
    """The generated conformance_pb2 module (default descriptor pool)."""
    from conformance.v1 import conformance_pb2

    return conformance_pb2


@pytest.fixture(scope="session")
def registry(conformance_set: Path) -> Registry:
    return load_registry([conformance_set])


@pytest.fixture(scope="session")
def converters(registry: Registry) -> Converters:
    return Converters(registry)


class Stack:
    """The conformance backend and a gateway in front of it, both on loopback port 0."""

    def __init__(self, grpc_port: int, http_port: int, servicer: Any, app: Any) -> None:
        self.grpc_port = grpc_port
        self.port = http_port
        self.servicer = servicer
        self.app = app


async def start_stack(conformance_set: Path, **overrides: Any) -> tuple[Stack, Any]:
    """Starts backend + gateway; returns the stack and an async stop()."""
    import grpc
    from conformance.v1 import conformance_pb2, conformance_pb2_grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    from colonnade.gateway.app import Gateway
    from colonnade.gateway.config import GatewayConfig
    from colonnade.gateway.server import serve
    from tests.gateway.servicer import make_servicer

    server = grpc.aio.server()
    servicer = make_servicer(conformance_pb2, conformance_pb2_grpc)
    conformance_pb2_grpc.add_ConformanceServiceServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    # The conformance contract declares no edge policies: a plain transcoder.
    overrides.setdefault("policies", False)
    cfg = GatewayConfig(
        descriptors=[str(conformance_set)],
        backends=[f"conformance.v1=127.0.0.1:{grpc_port}"],
        port=0,
        **overrides,
    )
    app = Gateway(cfg, load_registry(cfg.descriptors))
    await app.startup()
    http = await serve(app, "127.0.0.1", 0, error_page=app.error_page, limits=cfg.limits())
    port = http.sockets[0].getsockname()[1]
    stack = Stack(grpc_port, port, servicer, app)
    stack.health = health_servicer  # type: ignore[attr-defined]

    async def stop() -> None:
        http.close()
        await app.shutdown()
        await server.stop(0)

    return stack, stop


@pytest.fixture(scope="session")
async def stack(conformance_set: Path, grpc_client: str) -> AsyncIterator[Stack]:
    """Backend + gateway with default settings, shared by the session (one per client)."""
    s, stop = await start_stack(
        conformance_set, cors_origins=["https://app.example"], grpc_client=grpc_client
    )
    yield s
    await stop()


@pytest.fixture(scope="session")
async def strict_stack(conformance_set: Path, grpc_client: str) -> AsyncIterator[Stack]:
    """Backend + gateway in strict mode with a small body limit (one per client)."""
    s, stop = await start_stack(
        conformance_set, strict=True, max_body_bytes=1024, grpc_client=grpc_client
    )
    yield s
    await stop()


@pytest.fixture
async def h2servers() -> AsyncIterator[StartServer]:
    """Starts scripted servers; at teardown, fails on an h2 protocol error or handler error."""
    started: list[tuple[H2Server, bool]] = []

    async def start(
        handler: Handler | None = None,
        *,
        expect_protocol_errors: bool = False,
        sock: socket.socket | None = None,
        unix_path: str | None = None,
        **options: Any,
    ) -> H2Server:
        server = H2Server(handler, **options)
        await server.start(sock=sock, unix_path=unix_path)
        started.append((server, expect_protocol_errors))
        return server

    yield start
    for server, _ in started:
        await server.close()
    for server, expect_protocol_errors in started:
        assert not server.handler_errors, server.handler_errors
        if not expect_protocol_errors:
            assert not server.protocol_errors, server.protocol_errors
