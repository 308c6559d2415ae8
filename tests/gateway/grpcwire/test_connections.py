"""Connection loss, backends that are down or not HTTP/2, PING and MAX_CONCURRENT_STREAMS.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any

import pytest
from h2.settings import SettingCodes

from tests.gateway.h2server import (
    DEADLINE_EXCEEDED,
    GRPC_OK,
    PATH,
    UNAVAILABLE,
    MakeChannel,
    Request,
    StartServer,
    echo,
    grpc_frame,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 11. connection loss ----------------------------------------------------------------------


async def test_connection_loss_mid_call_then_reconnect(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        if req.conn.index == 0:
            await req.ended.wait()
            req.conn.abort()
        else:
            await echo(req)

    server = await h2servers(handler)
    channel = channels(server.target)
    t0 = time.monotonic()
    err = await rpc_error(channel.unary(PATH, b"", timeout=2.0))
    assert time.monotonic() - t0 < 1.0
    assert err.code == UNAVAILABLE
    assert err.message == f"connection to {server.target} closed by the server"
    assert (await channel.unary(PATH, b"again", timeout=1.0)).message == b"again"
    assert len(server.conns) == 2


async def test_connection_loss_mid_stream(h2servers: StartServer, channels: MakeChannel) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"one") + grpc_frame(b"two") + grpc_frame(b"thr"))
        await asyncio.sleep(0.02)
        req.conn.abort()

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=2.0)
    assert [await call.read() for _ in range(3)] == [b"one", b"two", b"thr"]
    err = await rpc_error(call.read())
    assert err.code == UNAVAILABLE


# -- 12. backend down, not HTTP/2 -------------------------------------------------------------


async def test_backend_down_fails_fast_with_backoff_then_recovers(
    h2servers: StartServer,
    channels: MakeChannel,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="colonnade.gateway.grpc")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()
    attempts: list[tuple[Any, ...]] = []
    real_connect = loop.create_connection

    async def counting_connect(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:])
        return await real_connect(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", counting_connect)
    serving = False
    try:
        channel = channels(f"127.0.0.1:{port}", connect_timeout=1.0)
        channel.backoff = 0.1  # the first back-off, shortened for the test
        t0 = time.monotonic()
        err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
        assert time.monotonic() - t0 < 0.5
        assert err.code == UNAVAILABLE
        assert err.message.startswith(f"backend 127.0.0.1:{port} unavailable: ")
        assert "refused" in err.message.lower() or "connect call failed" in err.message.lower()
        assert attempts == [("127.0.0.1", port)]
        assert channel.backoff == pytest.approx(0.16)

        t0 = time.monotonic()
        err2 = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
        assert time.monotonic() - t0 < 0.1
        assert err2.code == UNAVAILABLE
        assert err2.message == err.message
        assert len(attempts) == 1  # failed fast: no new connection attempt

        await asyncio.sleep(max(0.0, channel.retry_at - time.monotonic()) + 0.01)
        await rpc_error(channel.unary(PATH, b"", timeout=1.0))  # still down, after back-off
        assert len(attempts) == 2

        server = await h2servers(echo, sock=sock)  # the server owns the socket from now on
        serving = True
        await asyncio.sleep(max(0.0, channel.retry_at - time.monotonic()) + 0.01)
        assert (await channel.unary(PATH, b"up", timeout=1.0)).message == b"up"
        assert len(attempts) == 3
        assert len(server.conns) == 1
        assert (channel.backoff, channel.retry_at) == (1.0, 0.0)
        # the outage is logged once when it starts and once when it ends, not per call
        events = [(r.levelname, r.getMessage()) for r in caplog.records]
        assert events == [
            ("WARNING", "backend unreachable"),
            ("INFO", "backend reachable again"),
        ]
        assert caplog.records[0].backend == f"127.0.0.1:{port}"  # type: ignore[attr-defined]
        assert caplog.records[1].failed_attempts == 2  # type: ignore[attr-defined]
    finally:
        if not serving:
            sock.close()


async def test_default_backoff_is_about_one_second(channels: MakeChannel) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        channel = channels(f"127.0.0.1:{sock.getsockname()[1]}")
        await rpc_error(channel.unary(PATH, b"", timeout=1.0))
        wait = channel.retry_at - time.monotonic()
        assert 0.6 <= wait <= 1.2
        assert channel.backoff == pytest.approx(1.6)
    finally:
        sock.close()


async def test_http1_server_fails_unavailable_not_hang(channels: MakeChannel) -> None:
    async def http1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http1, "127.0.0.1", 0)
    try:
        target = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        channel = channels(target)
        t0 = time.monotonic()
        err = await rpc_error(channel.unary(PATH, b"", timeout=3.0))
        assert time.monotonic() - t0 < 1.0
        assert err.code == UNAVAILABLE
        assert "HTTP/2" in err.message
    finally:
        server.close()
        await server.wait_closed()


async def test_silent_server_times_out_connecting(channels: MakeChannel) -> None:
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        target = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        channel = channels(target, connect_timeout=0.3)
        t0 = time.monotonic()
        err = await rpc_error(channel.unary(PATH, b""))
        assert 0.25 <= time.monotonic() - t0 < 1.0
        assert err.code == UNAVAILABLE
        # a deadline shorter than the connect timeout is the caller's deadline
        channel2 = channels(target, connect_timeout=5.0)
        err = await rpc_error(channel2.unary(PATH, b"", timeout=0.2))
        assert err.code == DEADLINE_EXCEEDED
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_connect_timeout_closes_the_socket(channels: MakeChannel) -> None:
    closed = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await reader.read()  # until the client closes its end
        closed.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        target = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
        err = await rpc_error(channels(target, connect_timeout=0.2).unary(PATH, b""))
        assert err.code == UNAVAILABLE
        await asyncio.wait_for(closed.wait(), 1.0)
    finally:
        for w in writers:
            w.close()
        server.close()
        await server.wait_closed()


# -- 13. PING, MAX_CONCURRENT_STREAMS ---------------------------------------------------------


async def test_server_ping_is_acknowledged_with_the_same_bytes(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    server = await h2servers(echo)
    channel = channels(server.target)
    await channel.unary(PATH, b"", timeout=1.0)
    conn = server.conns[0]
    conn.h2.ping(b"\x00\x01\x02\x03\xfe\xfd\xfc\xfb")
    conn.flush()
    await server.until(lambda: conn.ping_acks)
    assert conn.ping_acks == [b"\x00\x01\x02\x03\xfe\xfd\xfc\xfb"]


async def test_max_concurrent_streams_is_respected(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        await asyncio.sleep(0.02)
        req.respond(message)

    server = await h2servers(handler, settings={SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    channel = channels(server.target)
    results = await asyncio.gather(*(channel.unary(PATH, b"%d" % i, timeout=3.0) for i in range(5)))
    assert sorted(r.message for r in results) == [b"0", b"1", b"2", b"3", b"4"]
    assert server.max_open == 1
    assert len(server.requests) == 5
    assert len(server.conns) == 1


async def test_deadline_applies_while_waiting_for_a_stream_slot(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    release = asyncio.Event()

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        await release.wait()
        req.respond(message)

    server = await h2servers(handler, settings={SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    channel = channels(server.target)
    holder = asyncio.create_task(channel.unary(PATH, b"hold"))  # no deadline
    await server.until(lambda: server.requests)
    try:
        t0 = time.monotonic()
        err = await rpc_error(asyncio.wait_for(channel.unary(PATH, b"late", timeout=0.2), 1.0))
        assert err.code == DEADLINE_EXCEEDED
        assert time.monotonic() - t0 < 0.6
    finally:
        release.set()
        await holder


async def test_slot_wakeup_is_not_lost_when_the_woken_caller_is_cancelled(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        if message == b"first":
            await asyncio.sleep(0.05)
        req.respond(message)

    server = await h2servers(handler, settings={SettingCodes.MAX_CONCURRENT_STREAMS: 1})
    channel = channels(server.target)
    await channel.unary(PATH, b"warm", timeout=1.0)
    waiting: list[asyncio.Task[Any]] = []

    async def first_then_cancel_the_next_waiter() -> bytes:
        resp = await channel.unary(PATH, b"first", timeout=2.0)
        # runs in the same loop iteration as the slot release, before the woken waiter
        waiting[0].cancel()
        return resp.message

    first = asyncio.create_task(first_then_cancel_the_next_waiter())
    await server.until(lambda: len(server.requests) == 2)
    waiting.append(asyncio.create_task(channel.unary(PATH, b"second", timeout=2.0)))
    waiting.append(asyncio.create_task(channel.unary(PATH, b"third", timeout=2.0)))
    await asyncio.sleep(0.01)
    assert await first == b"first"
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
    resp = await asyncio.wait_for(waiting[1], 1.0)
    assert resp.message == b"third"
