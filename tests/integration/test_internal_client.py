"""The runtime's internal gRPC client against real servers built by the runtime."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from colonnade.runtime.client import Channels, ClientConfig, MethodPolicy
from colonnade.runtime.server import ServiceServer, build_server
from colonnade.runtime.settings import Settings

pytestmark = pytest.mark.integration

SERVICE = "test.v1.Probe"
CONFIG = ClientConfig(
    SERVICE,
    {
        "Echo": MethodPolicy(timeout=2.0, retryable=True),
        "Create": MethodPolicy(timeout=2.0, retryable=False),
        "Slow": MethodPolicy(timeout=0.3, retryable=True),
        "Relay": MethodPolicy(timeout=5.0),
    },
)


class Probe:
    """A server whose methods fail on demand and record what they received."""

    def __init__(self, name: str, downstream: Callable[[], grpc.aio.Channel] | None = None):
        self.name = name
        self.calls: Counter[str] = Counter()
        self.fail_next = 0
        self.metadata: list[dict[str, str]] = []
        self.remaining: list[float | None] = []
        self.peers: list[str] = []
        self.cancelled = asyncio.Event()
        self._downstream = downstream

    def _record(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self.calls[method] += 1
        self.metadata.append({k: str(v) for k, v in context.invocation_metadata() or ()})
        self.remaining.append(context.time_remaining())
        self.peers.append(context.peer())

    async def _maybe_fail(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    async def echo(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self._record("Echo", context)
        await self._maybe_fail(context)
        return self.name.encode()

    async def create(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self._record("Create", context)
        await self._maybe_fail(context)
        return b"created"

    async def slow(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        self._record("Slow", context)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b"late"

    async def relay(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        """Calls ``request`` (a method name) on the downstream server."""
        self._record("Relay", context)
        assert self._downstream is not None
        call: Any = self._downstream().unary_unary(f"/{SERVICE}/{request.decode()}")
        return bytes(await call(b""))

    def register(self, server: grpc.aio.Server) -> list[str]:
        handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
            name: grpc.unary_unary_rpc_method_handler(getattr(self, name.lower()))
            for name in ("Echo", "Create", "Slow", "Relay")
        }
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
        return [SERVICE]


Start = Callable[..., Awaitable[tuple[Probe, str]]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[ServiceServer] = []

    async def start_probe(
        name: str, downstream: Callable[[], grpc.aio.Channel] | None = None, **kw: Any
    ) -> tuple[Probe, str]:
        probe = Probe(name, downstream)
        settings = Settings.from_env({"GRPC_PORT": "0", "LOG_ACCESS": "false"})
        server, port = build_server(settings, probe.register, **kw)
        await server.start()
        servers.append(server)
        return probe, f"127.0.0.1:{port}"

    yield start_probe
    for server in servers:
        await server.stop(grace=0)


@pytest.fixture
async def channels() -> AsyncIterator[Channels]:
    pool = Channels()
    yield pool
    await pool.close()


def method(channels: Channels, target: str, name: str) -> Any:
    return channels.get(target, CONFIG).unary_unary(f"/{SERVICE}/{name}")


async def test_one_channel_per_target(start: Start, channels: Channels) -> None:
    _, target = await start("a")
    assert channels.get(target, CONFIG) is channels.get(target, CONFIG)


async def test_unavailable_is_retried_only_for_retryable_methods(
    start: Start, channels: Channels
) -> None:
    probe, target = await start("a")
    probe.fail_next = 2
    assert await method(channels, target, "Echo")(b"") == b"a"
    assert probe.calls["Echo"] == 3
    probe.fail_next = 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channels, target, "Create")(b"")
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    assert probe.calls["Create"] == 1  # not idempotent: never sent twice


async def test_retry_throttling_stops_retries_during_an_outage(
    start: Start, channels: Channels
) -> None:
    probe, target = await start("a")
    probe.fail_next = 10_000
    for _ in range(20):
        with pytest.raises(grpc.aio.AioRpcError):
            await method(channels, target, "Echo")(b"")
    # Without throttling 20 calls would be 80 attempts; the token bucket cuts retries off.
    assert 20 <= probe.calls["Echo"] < 40


async def test_round_robin_over_every_address(start: Start, channels: Channels) -> None:
    _, ta = await start("a")
    _, tb = await start("b")
    target = f"ipv4:{ta},{tb}"
    echo = method(channels, target, "Echo")
    # round_robin picks among the connected addresses: until the second one has connected, every
    # call goes to the first. Once both have answered, calls alternate strictly.
    seen: set[bytes] = set()
    deadline = time.monotonic() + 10
    while seen != {b"a", b"b"}:
        assert time.monotonic() < deadline, f"only {seen} answered within 10 s"
        seen.add(await echo(b""))
    answers = Counter([await echo(b"") for _ in range(20)])
    assert answers == Counter({b"a": 10, b"b": 10})


async def test_timeout_is_the_method_default_without_a_caller_deadline(
    start: Start, channels: Channels
) -> None:
    probe, target = await start("a")
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await method(channels, target, "Slow")(b"")
    assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5
    assert probe.calls["Slow"] == 1, "the call reached the server"
    await asyncio.wait_for(probe.cancelled.wait(), 2)  # the server saw the call cancelled


async def test_deadline_request_id_and_trace_are_passed_on(
    start: Start, channels: Channels
) -> None:
    back, back_target = await start("back")
    _front, front_target = await start("front", lambda: channels.get(back_target, CONFIG))
    trace = "0af7651916cd43dd8448eb211c80319c"
    async with grpc.aio.insecure_channel(front_target) as plain:
        relay: Any = plain.unary_unary(f"/{SERVICE}/Relay")
        answer = await relay(
            b"Echo",
            timeout=1.0,
            metadata=(
                ("x-request-id", "req-42"),
                ("traceparent", f"00-{trace}-b7ad6b7169203331-01"),
            ),
        )
        assert answer == b"back"
        seen = back.metadata[-1]
        assert seen["x-request-id"] == "req-42"
        # Tracing is off in the front server: it records no span, so it passes the caller's
        # traceparent on unchanged (W3C), sampled flag included, for downstream to record.
        assert seen["traceparent"] == f"00-{trace}-b7ad6b7169203331-01"
        # The caller's 1 s is less than Echo's 2 s default: the downstream call gets what is left.
        remaining = back.remaining[-1]
        assert remaining is not None and remaining <= 1.0

        # A slow downstream fails within the caller's deadline, and sees the call cancelled.
        started = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await relay(b"Slow", timeout=0.2)
        assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 1.0
        await asyncio.wait_for(back.cancelled.wait(), 2)


async def test_servers_age_connections_so_clients_rebalance(
    start: Start, channels: Channels
) -> None:
    probe, target = await start("a", max_connection_age_ms=300)
    await method(channels, target, "Echo")(b"")
    await asyncio.sleep(1.0)
    await method(channels, target, "Echo")(b"")
    assert probe.peers[0] != probe.peers[1]  # a new connection (a new client port)
