"""Server streaming: messages across and within DATA frames, errors after messages, slow readers.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import asyncio
import os

import pytest

from colonnade.gateway.grpcwire import RpcError
from tests.gateway.h2server import (
    ABORTED,
    GRPC_OK,
    PATH,
    MakeChannel,
    MiB,
    Request,
    StartServer,
    grpc_frame,
    grpc_unframe,
    read_all,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 5. server streaming ----------------------------------------------------------------------


async def test_streaming_messages_across_and_within_data_frames(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    messages = [b"first", b"", b"third" * 10, os.urandom(40_000), b"last"]
    frames = [grpc_frame(m) for m in messages]

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"x-initial", b"s")])
        req.send_now(frames[0][:3])  # a prefix split across DATA frames
        await asyncio.sleep(0.01)
        req.send_now(frames[0][3:] + frames[1] + frames[2])  # three messages ending in one
        await req.send_data(frames[3][:7])
        await req.send_data(frames[3][7:20_000])  # 16 KiB + the rest
        await req.send_data(frames[3][20_000:])
        req.conn.h2.send_data(req.stream_id, frames[4])
        req.conn.h2.send_headers(
            req.stream_id, [(b"grpc-status", b"0"), (b"x-trailing", b"t")], end_stream=True
        )
        await req.conn.trickle(5)  # the last frames arrive a few bytes at a time

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"req", timeout=2.0)
    assert call.initial_metadata == []
    assert await read_all(call) == messages
    assert await call.read() is None
    assert call.initial_metadata == [(b"x-initial", b"s")]
    assert call.trailing_metadata == [(b"x-trailing", b"t")]
    assert server.requests[0].body == grpc_frame(b"req")


async def test_streaming_error_in_trailers_after_messages(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"x-initial", b"s")])
        req.send_now(grpc_frame(b"one") + grpc_frame(b"two"))
        req.send_trailers(ABORTED, b"conflict%21", extra=[(b"x-why", b"race")])

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=2.0)
    assert await call.read() == b"one"
    assert await call.read() == b"two"
    err = await rpc_error(call.read())
    assert (err.code, err.message) == (ABORTED, "conflict!")
    assert err.initial == [(b"x-initial", b"s")]
    assert err.trailing == [(b"x-why", b"race")]
    err = await rpc_error(call.read())  # and it stays failed
    assert err.code == ABORTED


async def test_slow_streaming_reader_holds_back_its_stream_only(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    payloads = [os.urandom(16_384) for _ in range(160)]  # 2.5 MiB

    async def handler(req: Request) -> None:
        await req.ended.wait()
        if req.header(b":path") != b"/test.v1.Echo/Stream":
            req.respond(b"unary")
            return
        req.send_headers(GRPC_OK)
        for p in payloads:
            await req.send_data(grpc_frame(p))
        req.send_trailers(0)

    server = await h2servers(handler)
    channel = channels(server.target)
    call = channel.stream("/test.v1.Echo/Stream", b"", timeout=5.0)
    first = await call.read()
    req = server.requests[0]
    await server.until(req.blocked.is_set)
    h2c = req.conn.h2
    assert h2c.local_flow_control_window(req.stream_id) == 0
    assert h2c.outbound_flow_control_window > 4 * MiB  # the connection still has room
    sent = req.sent
    assert MiB <= sent < 2 * MiB
    # the same connection still serves other calls while the reader sleeps
    assert (await channel.unary(PATH, b"", timeout=1.0)).message == b"unary"
    await asyncio.sleep(0.05)
    assert req.sent == sent  # still blocked: nothing was credited for unread messages
    assert [first, *await read_all(call)] == payloads
    assert len(server.conns) == 1


# -- client and bidirectional streaming --------------------------------------------------------


async def test_client_stream_messages_then_end_stream(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        messages = await req.messages()  # waits for the client's END_STREAM
        req.respond(b"%d" % len(messages) + b":" + b",".join(messages))

    server = await h2servers(handler)
    call = channels(server.target).duplex(PATH, (), 5.0)
    for m in (b"a", b"", b"c" * 70_000):  # the last one beyond the initial 64 KiB window
        assert await call.write(m)
    await call.done_writing()
    assert await call.read() == b"3:a,," + b"c" * 70_000
    assert await call.read() is None


async def test_an_early_answer_closes_the_request_stream_with_no_error(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.conn.server.until(lambda: req.body)
        req.respond(status=ABORTED)  # before the client's END_STREAM

    server = await h2servers(handler)
    call = channels(server.target).duplex(PATH, (), 5.0)
    assert await call.write(b"first")
    with pytest.raises(RpcError) as info:
        await call.read()
    assert info.value.code == ABORTED
    assert not await call.write(b"late")  # nothing more goes out
    req = server.requests[0]
    await server.until(lambda: req.reset_code is not None)
    assert req.reset_code == 0  # RST_STREAM(NO_ERROR): the stream is closed on both sides
    assert grpc_unframe(bytes(req.body)) == [b"first"]
