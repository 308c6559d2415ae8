"""The two gRPC clients behind one interface (rpc.py): the same semantics, and what differs.

The conformance and catalog tests run the whole gateway with each client (the `grpc_client`
fixture). These tests look at the client layer itself, against the scripted HTTP/2 servers
of h2server.py, which record what a client sends: every test runs with both clients, and
where grpc.aio cannot do exactly what the own client does (the wire-level header order, a
trailers-only answer's metadata, the user agent), the test pins what each one does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from h2.errors import ErrorCodes

from colonnade.gateway.errors import BackendConfigError, ConfigError, RpcError
from colonnade.gateway.grpcaio import from_aio_metadata, to_aio_metadata
from colonnade.gateway.metadata import decode_binary, encode_metadata
from colonnade.gateway.rpc import CLIENTS, GRPCIO, NATIVE, Channel, open_channel
from colonnade.gateway.status import Code
from tests.gateway.h2server import (
    GRPC_OK,
    PATH,
    Request,
    StartServer,
    b64,
    client_reset,
    echo,
    grpc_frame,
    never_answer,
    parse_grpc_timeout,
    reply_with_metadata,
    rpc_error,
)

pytestmark = pytest.mark.timeout(20)

Open = Callable[..., Channel]


@pytest.fixture(params=CLIENTS)
async def client(request: pytest.FixtureRequest) -> AsyncIterator[Open]:
    """Opens channels of one client kind (`native`, `grpcio`); closed after the test."""
    kind = str(request.param)
    made: list[Channel] = []

    def make(target: str, *, max_message: int = 4 * 1024 * 1024) -> Channel:
        channel = open_channel(kind, target, size=1, max_message=max_message)
        made.append(channel)
        return channel

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for channel in made:
        await channel.close()


def kind(make: Open) -> str:
    return make.kind  # type: ignore[attr-defined,no-any-return]


# -- the interface --------------------------------------------------------------------------


def test_open_channel_refuses_an_unknown_client_and_a_bad_target() -> None:
    with pytest.raises(ConfigError, match="grpc_client: 'h2'"):
        open_channel("h2", "127.0.0.1:1", size=1, max_message=1)
    for name in CLIENTS:
        with pytest.raises(BackendConfigError, match="expected HOST:PORT"):
            open_channel(name, "no-port", size=1, max_message=1)


def test_metadata_converts_both_ways_without_loss() -> None:
    wire = encode_metadata([("x-text", "v 1"), ("trace-bin", b"\x00\xfe\xff")])
    aio = to_aio_metadata(wire)
    assert aio == (("x-text", "v 1"), ("trace-bin", b"\x00\xfe\xff"))
    assert from_aio_metadata(aio) == wire
    assert from_aio_metadata(None) == []


# -- the same semantics ---------------------------------------------------------------------


async def test_unary_metadata_in_and_out_and_the_deadline(
    h2servers: StartServer, client: Open
) -> None:
    server = await h2servers(reply_with_metadata)
    channel = client(server.target)
    md = encode_metadata([("x-custom", "value 1"), ("trace-bin", b"\x00\x01\xfe\xff")])
    resp = await channel.unary(PATH, b"ping", md, 5.0)
    assert resp.message == b"reply:ping"
    initial = dict(resp.initial)
    assert initial[b"x-initial"] == b"i1"
    assert decode_binary(initial[b"initial-bin"]) == b"\x00\xfe"
    trailing = dict(resp.trailing)
    assert trailing[b"x-trailing"] == b"t1"
    assert decode_binary(trailing[b"trailing-bin"]) == b"\xff"
    # transport headers are not metadata, in either client
    for name in (b"content-type", b"grpc-status", b"grpc-message", b":status"):
        assert name not in initial and name not in trailing
    (req,) = server.requests
    assert req.header(b"x-custom") == b"value 1"
    assert decode_binary(req.header(b"trace-bin") or b"") == b"\x00\x01\xfe\xff"
    assert req.header(b"content-type") == b"application/grpc"
    assert req.header(b"te") == b"trailers"
    assert 4.0 < parse_grpc_timeout(req.header(b"grpc-timeout") or b"") <= 5.0


async def test_error_status_message_and_details_from_the_trailers(
    h2servers: StartServer, client: Open
) -> None:
    details = b"\x08\x05\x12\x04gone"  # a serialized google.rpc.Status: code 5, "gone"

    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers([*GRPC_OK, (b"x-initial", b"i")])
        req.send_trailers(
            5, b"not%20here", extra=[(b"grpc-status-details-bin", b64(details, pad=False))]
        )

    server = await h2servers(handler)
    err = await rpc_error(client(server.target).unary(PATH, b"x", (), 5.0))
    assert err.code == Code.NOT_FOUND
    assert err.message == "not here"
    assert err.details_bin() == details
    assert dict(err.initial)[b"x-initial"] == b"i"


async def test_server_streaming_then_an_error_after_the_messages(
    h2servers: StartServer, client: Open
) -> None:
    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"one") + grpc_frame(b"two"))
        req.send_trailers(10, b"broke", extra=[(b"x-trailing", b"t")])

    server = await h2servers(handler)
    call = client(server.target).stream(PATH, b"x", (), 5.0)
    assert await call.read() == b"one"
    assert await call.read() == b"two"
    with pytest.raises(RpcError) as info:
        await call.read()
    assert info.value.code == Code.ABORTED and info.value.message == "broke"
    assert dict(info.value.trailing)[b"x-trailing"] == b"t"


async def test_server_streaming_to_the_end_with_trailers(
    h2servers: StartServer, client: Open
) -> None:
    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers([*GRPC_OK, (b"x-initial", b"i")])
        req.send_now(grpc_frame(b"only"))
        req.send_trailers(0, extra=[(b"x-trailing", b"t")])

    server = await h2servers(handler)
    call = client(server.target).stream(PATH, b"x", (), 5.0)
    assert await call.read() == b"only"
    assert dict(call.initial_metadata)[b"x-initial"] == b"i"
    assert await call.read() is None
    assert dict(call.trailing_metadata)[b"x-trailing"] == b"t"


async def test_deadline_fails_the_call_and_resets_the_stream(
    h2servers: StartServer, client: Open
) -> None:
    server = await h2servers(never_answer)
    started = asyncio.get_running_loop().time()
    err = await rpc_error(client(server.target).unary(PATH, b"x", (), 0.3))
    assert err.code == Code.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started < 2.0
    (req,) = server.requests
    assert await client_reset(req) == ErrorCodes.CANCEL


async def test_a_cancelled_caller_resets_the_stream(h2servers: StartServer, client: Open) -> None:
    server = await h2servers(never_answer)
    task = asyncio.create_task(client(server.target).unary(PATH, b"x", (), 10.0))
    await server.until(lambda: server.requests)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL


async def test_a_cancelled_stream_resets_the_stream(h2servers: StartServer, client: Open) -> None:
    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"first"))
        await req.reset.wait()

    server = await h2servers(handler)
    call = client(server.target).stream(PATH, b"x", (), 10.0)
    assert await call.read() == b"first"
    call.cancel()
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL


async def test_a_response_over_the_size_limit_is_resource_exhausted(
    h2servers: StartServer, client: Open
) -> None:
    async def handler(req: Request) -> None:
        await req.messages()
        req.respond(b"x" * 2000)

    server = await h2servers(handler)
    err = await rpc_error(client(server.target, max_message=1000).unary(PATH, b"x", (), 5.0))
    assert err.code == Code.RESOURCE_EXHAUSTED


async def test_an_answer_that_is_not_grpc_maps_by_http_status(
    h2servers: StartServer, client: Open
) -> None:
    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers([(b":status", b"503"), (b"content-type", b"text/plain")])
        req.send_now(b"busy", end_stream=True)

    server = await h2servers(handler)
    err = await rpc_error(client(server.target).unary(PATH, b"x", (), 5.0))
    assert err.code == Code.UNAVAILABLE  # gRPC's http-grpc-status-mapping, in both


async def test_an_unreachable_backend_is_unavailable(client: Open) -> None:
    from colonnade_tools.devstack.ports import free_port

    err = await rpc_error(client(f"127.0.0.1:{free_port()}").unary(PATH, b"x", (), 3.0))
    assert err.code == Code.UNAVAILABLE


# -- where grpc.aio differs, pinned ---------------------------------------------------------


async def test_request_headers_on_the_wire(h2servers: StartServer, client: Open) -> None:
    """Both send the pseudo-headers first (h2 checks it) and the metadata in the caller's
    order; the rest of the header list is each client's own: the own client sends a fixed
    list and `user-agent: colonnade-gateway`, grpc core adds its own headers, orders them
    its way and appends its version to the user agent."""
    server = await h2servers(echo)
    md = encode_metadata([("x-b", "2"), ("x-a", "1"), ("x-c", "3")])
    await client(server.target).unary(PATH, b"x", md, 5.0)
    (req,) = server.requests
    names = [k for k, _ in req.headers]
    pseudo = [k for k in names if k.startswith(b":")]
    assert names[: len(pseudo)] == pseudo
    assert [k for k in names if k in (b"x-a", b"x-b", b"x-c")] == [b"x-b", b"x-a", b"x-c"]
    agent = req.header(b"user-agent") or b""
    regular = [k for k in names if not k.startswith(b":")]
    if kind(client) == NATIVE:
        assert pseudo == [b":method", b":scheme", b":path", b":authority"]
        assert agent == b"colonnade-gateway"
        assert regular == [
            b"content-type",
            b"te",
            b"user-agent",
            b"grpc-timeout",
            b"x-b",
            b"x-a",
            b"x-c",
        ]
    else:  # grpc core 1.85 (grpcio is pinned): its own order, and one header more
        assert pseudo == [b":path", b":authority", b":method", b":scheme"]
        assert agent.startswith(b"colonnade-gateway grpc-python-asyncio/")
        assert req.header(b"grpc-accept-encoding") == b"identity, deflate, gzip"
        assert {b"content-type", b"te", b"user-agent", b"grpc-timeout"} <= set(regular)


async def test_trailers_only_error_metadata(h2servers: StartServer, client: Open) -> None:
    """A trailers-only answer (one HEADERS frame with END_STREAM) carries the status and the
    metadata together. The own client reports that metadata as both initial and trailing
    metadata (so the gateway writes it as Grpc-Metadata-* headers as well); grpc core
    reports it as trailing metadata only."""

    async def handler(req: Request) -> None:
        await req.messages()
        req.send_headers(
            [*GRPC_OK, (b"grpc-status", b"7"), (b"grpc-message", b"no"), (b"x-why", b"w")],
            end_stream=True,
        )

    server = await h2servers(handler)
    err = await rpc_error(client(server.target).unary(PATH, b"x", (), 5.0))
    assert err.code == Code.PERMISSION_DENIED and err.message == "no"
    assert dict(err.trailing)[b"x-why"] == b"w"
    if kind(client) == NATIVE:
        assert dict(err.initial)[b"x-why"] == b"w"
    else:
        assert kind(client) == GRPCIO and b"x-why" not in dict(err.initial)
