"""GOAWAY and RST_STREAM from the server: calls it never saw are retried once.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from h2.errors import ErrorCodes

from tests.gateway.h2server import (
    CANCELLED,
    DEADLINE_EXCEEDED,
    GRPC_OK,
    INTERNAL,
    PATH,
    RESOURCE_EXHAUSTED,
    UNAVAILABLE,
    H2Server,
    MakeChannel,
    Request,
    StartServer,
    grpc_frame,
    parse_grpc_timeout,
    read_all,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 8. GOAWAY --------------------------------------------------------------------------------


async def test_goaway_retries_streams_above_last_stream_id_on_a_new_connection(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    server: H2Server

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        conn = req.conn
        if conn.index > 0:
            req.respond(b"new%d:" % conn.index + message)
        elif req.stream_id == 1:
            await server.until(lambda: 3 in conn.requests)
            conn.goaway(1, 0, b"draining")  # stream 3 was never processed
            await server.until(lambda: len(server.conns) > 1 and server.conns[1].requests)
            req.respond(b"old:" + message)  # stream 1 still completes on the old connection

    server = await h2servers(handler)
    channel = channels(server.target)
    first = asyncio.create_task(channel.unary(PATH, b"a", timeout=3.0))
    await server.until(lambda: server.requests)
    second = asyncio.create_task(channel.unary(PATH, b"b", timeout=3.0))
    r1, r2 = await asyncio.gather(first, second)
    assert (r1.message, r2.message) == (b"old:a", b"new1:b")
    assert [(r.conn.index, r.stream_id) for r in server.requests] == [(0, 1), (0, 3), (1, 1)]
    # new calls go to the new connection; the old one is told GOAWAY and closed once idle
    assert (await channel.unary(PATH, b"c", timeout=1.0)).message == b"new1:c"
    assert len(server.conns) == 2
    old = server.conns[0]
    await server.until(lambda: old.closed)
    assert old.goaways_in and old.goaways_in[0][1] == 0


async def test_goaway_before_any_stream_retries_a_streaming_call(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        if req.conn.index == 0:
            req.conn.goaway(0, 0)
            return
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"one") + grpc_frame(b"two"))
        req.send_trailers(0)

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=2.0)
    assert await read_all(call) == [b"one", b"two"]
    assert [(r.conn.index, r.stream_id) for r in server.requests] == [(0, 1), (1, 1)]
    await server.until(lambda: server.conns[0].closed)  # nothing left on it: the client closed it


async def test_goaway_twice_fails_unavailable_after_one_retry(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.conn.goaway(0, 0)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"", timeout=2.0))
    assert err.code == UNAVAILABLE
    assert len(server.requests) == 2


async def test_streaming_retry_keeps_the_original_deadline(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        if req.conn.index == 0:
            await asyncio.sleep(0.4)
            req.conn.goaway(0, 0)  # never processed: retried, the new server never answers

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=0.6)
    t0 = time.monotonic()
    err = await rpc_error(call.read())
    elapsed = time.monotonic() - t0
    assert err.code == DEADLINE_EXCEEDED
    first, second = (parse_grpc_timeout(r.header(b"grpc-timeout") or b"") for r in server.requests)
    assert second <= first - 0.3
    assert elapsed < 0.9


# -- 9. RST_STREAM from the server ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rst", "code"),
    [
        (ErrorCodes.CANCEL, CANCELLED),
        (ErrorCodes.INTERNAL_ERROR, INTERNAL),
        (ErrorCodes.PROTOCOL_ERROR, INTERNAL),
        (ErrorCodes.ENHANCE_YOUR_CALM, RESOURCE_EXHAUSTED),
    ],
)
async def test_rst_stream_maps_to_status(
    h2servers: StartServer, channels: MakeChannel, rst: ErrorCodes, code: int
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.reset_stream(rst)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"", timeout=1.0))
    assert err.code == code
    assert err.message == f"the server reset the stream (HTTP/2 error {int(rst):#x})"
    assert len(server.requests) == 1  # not retried


@pytest.mark.parametrize("streaming", [False, True])
async def test_refused_stream_is_retried_once(
    h2servers: StartServer, channels: MakeChannel, streaming: bool
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        if len(req.conn.requests) == 1:
            req.reset_stream(ErrorCodes.REFUSED_STREAM)
        else:
            req.respond(message)

    server = await h2servers(handler)
    channel = channels(server.target)
    if streaming:
        assert await read_all(channel.stream(PATH, b"again", timeout=1.0)) == [b"again"]
    else:
        assert (await channel.unary(PATH, b"again", timeout=1.0)).message == b"again"
    assert [(r.conn.index, r.stream_id) for r in server.requests] == [(0, 1), (0, 3)]


async def test_refused_twice_fails_unavailable(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.reset_stream(ErrorCodes.REFUSED_STREAM)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"", timeout=1.0))
    assert err.code == UNAVAILABLE
    assert err.message == "the server reset the stream (HTTP/2 error 0x7)"
    assert len(server.requests) == 2
