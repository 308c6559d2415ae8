"""Flow control both ways and the message size limit.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os

import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from tests.gateway.h2server import (
    DATA,
    END_STREAM,
    GRPC_OK,
    PATH,
    RESOURCE_EXHAUSTED,
    WINDOW_UPDATE,
    MakeChannel,
    MiB,
    Request,
    StartServer,
    StreamGone,
    client_reset,
    echo,
    grpc_frame,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 4. flow control and message size ---------------------------------------------------------


async def test_large_request_waits_for_the_servers_window(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    request = os.urandom(3 * MiB)

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(hashlib.sha256(message).digest())

    server = await h2servers(handler)  # h2's defaults: 65 535-byte windows, 16 KiB frames
    resp = await channels(server.target).unary(PATH, request, timeout=10.0)
    assert resp.message == hashlib.sha256(request).digest()

    conn = server.conns[0]
    (req,) = server.requests
    assert bytes(req.body) == grpc_frame(request)  # every byte, in order
    data = [f for f in conn.frames_in if f.kind == DATA]
    assert sum(f.length for f in data) == len(request) + 5
    assert max(f.length for f in data) <= 16_384
    assert data[-1].flags & END_STREAM
    # h2 raises FlowControlError when a peer overruns a window: none means the client waited
    assert not server.protocol_errors
    assert sum(1 for f in conn.frames_out if f.kind == WINDOW_UPDATE) >= 40


async def test_large_response_is_credited_as_it_arrives(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    payload = os.urandom(3 * MiB)

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        await req.send_data(grpc_frame(payload))
        req.send_trailers(0)

    server = await h2servers(handler)
    channel = channels(server.target, max_message=4 * MiB)
    resp = await channel.unary(PATH, b"", timeout=10.0)
    assert resp.message == payload
    # more than the 1 MiB stream window: the client returned window on stream 1 mid-message
    conn = server.conns[0]
    assert any(f.kind == WINDOW_UPDATE and f.stream_id == 1 for f in conn.frames_in)


@pytest.mark.parametrize("streaming", [False, True])
async def test_response_larger_than_max_message_is_resource_exhausted(
    h2servers: StartServer, channels: MakeChannel, streaming: bool
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        if req.stream_id == 1:  # exactly the limit: accepted
            req.respond(b"\x01" * 1024)
            return
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"\x02" * 100, declared=1025))  # the length alone is enough

    server = await h2servers(handler)
    channel = channels(server.target, max_message=1024)
    assert (await channel.unary(PATH, b"", timeout=1.0)).message == b"\x01" * 1024
    if streaming:
        err = await rpc_error(channel.stream(PATH, b"", timeout=1.0).read())
    else:
        err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
    assert err.code == RESOURCE_EXHAUSTED
    assert "1025 > 1024" in err.message
    req = server.requests[1]
    assert await client_reset(req) == ErrorCodes.CANCEL


async def test_settings_change_opens_a_zero_initial_window(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    """The server starts with INITIAL_WINDOW_SIZE 0 and 32 KiB frames, then raises the window
    by SETTINGS: the client applies the delta to the open stream and sends its body."""
    request = os.urandom(100_000)
    body_before: list[int] = []

    async def handler(req: Request) -> None:
        await asyncio.sleep(0.05)
        body_before.append(len(req.body))
        req.conn.h2.update_settings({SettingCodes.INITIAL_WINDOW_SIZE: 1 * MiB})
        req.conn.flush()
        await echo(req)

    settings = {SettingCodes.INITIAL_WINDOW_SIZE: 0, SettingCodes.MAX_FRAME_SIZE: 32_768}
    server = await h2servers(handler, settings=settings)
    resp = await channels(server.target).unary(PATH, request, timeout=2.0)
    assert resp.message == request
    assert body_before == [0]
    sizes = [f.length for f in server.conns[0].frames_in if f.kind == DATA]
    assert max(sizes) == 32_768


async def test_padded_data_frames_do_not_leak_the_stream_window(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    payload = os.urandom(400_000)

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        # 100 data bytes and 255 bytes of padding per frame: 356 bytes of window each
        with contextlib.suppress(StreamGone):  # the client's deadline, while the bug stands
            await req.send_data(grpc_frame(payload), pad_length=255, max_chunk=100)
            req.send_trailers(0)

    server = await h2servers(handler)
    resp = await channels(server.target).unary(PATH, b"", timeout=1.5)
    assert resp.message == payload
