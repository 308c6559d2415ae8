"""Deadlines (sent as grpc-timeout and enforced locally) and caller cancellation.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from h2.errors import ErrorCodes

from tests.gateway.h2server import (
    CANCELLED,
    DEADLINE_EXCEEDED,
    GRPC_OK,
    PATH,
    MakeChannel,
    Request,
    StartServer,
    client_reset,
    echo,
    grpc_frame,
    never_answer,
    parse_grpc_timeout,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 6. deadlines -----------------------------------------------------------------------------


async def test_deadline_exceeded_resets_the_stream(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    server = await h2servers(never_answer)
    channel = channels(server.target)
    t0 = time.monotonic()
    err = await rpc_error(channel.unary(PATH, b"x", timeout=0.3))
    elapsed = time.monotonic() - t0
    assert (err.code, err.message) == (DEADLINE_EXCEEDED, "Deadline Exceeded")
    assert 0.28 <= elapsed < 1.0
    (req,) = server.requests
    assert await client_reset(req) == ErrorCodes.CANCEL
    assert parse_grpc_timeout(req.header(b"grpc-timeout") or b"") <= 0.3


async def test_streaming_deadline_after_some_messages(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"one"))

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=0.3)
    assert await call.read() == b"one"
    err = await rpc_error(call.read())
    assert err.code == DEADLINE_EXCEEDED
    req = server.requests[0]
    assert await client_reset(req) == ErrorCodes.CANCEL


async def test_deadline_while_the_server_withholds_window(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    server = await h2servers(never_answer, auto_ack=False)
    err = await rpc_error(channels(server.target).unary(PATH, os.urandom(200_000), timeout=0.3))
    assert err.code == DEADLINE_EXCEEDED
    (req,) = server.requests
    assert await client_reset(req) == ErrorCodes.CANCEL
    assert len(req.body) == 65_535  # the whole initial window, not a byte more
    assert not req.ended.is_set()


# -- 7. caller cancellation -------------------------------------------------------------------


async def test_cancelled_unary_caller_resets_the_stream(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        if req.stream_id != 1:
            await echo(req)

    server = await h2servers(handler)
    channel = channels(server.target)
    task = asyncio.create_task(channel.unary(PATH, b"x", timeout=5.0))
    await server.until(lambda: server.requests)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    req = server.requests[0]
    assert await client_reset(req) == ErrorCodes.CANCEL
    assert (await channel.unary(PATH, b"next", timeout=1.0)).message == b"next"
    assert len(server.conns) == 1


async def test_cancelled_stream_reader_and_stream_cancel_reset_the_stream(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"one"))

    server = await h2servers(handler)
    channel = channels(server.target)
    call = channel.stream(PATH, b"", timeout=5.0)
    assert await call.read() == b"one"
    reader = asyncio.create_task(call.read())
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL

    call = channel.stream(PATH, b"", timeout=5.0)
    assert await call.read() == b"one"
    call.cancel()
    err = await rpc_error(call.read())
    assert err.code == CANCELLED
    assert await client_reset(server.requests[1]) == ErrorCodes.CANCEL
