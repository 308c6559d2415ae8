"""The HTTP/1.1 server (server.py) knows HTTP, not the gateway: its own answers (a request it
cannot parse, an application that crashed) come from the error page it is given."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from colonnade.gateway.responses import status_error_page
from colonnade.gateway.server import ErrorPage, HttpProtocol, drain, plain_error_page


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 5555) if name == "peername" else default


async def crash(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("boom")


async def exchange(data: bytes, error_page: ErrorPage, app: Any = crash) -> bytes:
    proto = HttpProtocol(app, asyncio.get_running_loop(), ("127.0.0.1", 80), error_page=error_page)
    transport = FakeTransport()
    proto.connection_made(transport)
    proto.data_received(data)
    for _ in range(5):
        await asyncio.sleep(0)
    return bytes(transport.written)


def split(response: bytes) -> tuple[bytes, dict[bytes, bytes], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    return status, dict(line.split(b": ", 1) for line in lines), body


async def test_malformed_request_with_the_default_page_is_plain_text() -> None:
    status, headers, body = split(await exchange(b"NOT HTTP AT ALL\r\n\r\n", plain_error_page))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert headers[b"connection"] == b"close"
    assert body.startswith(b"malformed HTTP request: ")
    assert int(headers[b"content-length"]) == len(body)


async def test_malformed_request_with_the_gateways_page_is_a_status() -> None:
    status, headers, body = split(await exchange(b"NOT HTTP AT ALL\r\n\r\n", status_error_page))
    assert status == b"HTTP/1.1 400 Bad Request"
    assert headers[b"content-type"] == b"application/json"
    status_body = orjson.loads(body)
    assert status_body["code"] == 3 and status_body["details"] == []
    assert status_body["message"].startswith("malformed HTTP request: ")


async def test_an_application_that_raises_gets_a_500_from_the_page() -> None:
    request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    status, headers, body = split(await exchange(request, status_error_page))
    assert status == b"HTTP/1.1 500 Internal Server Error"
    assert headers[b"content-type"] == b"application/json"
    assert orjson.loads(body) == {"code": 13, "message": "internal error", "details": []}
    status, headers, body = split(await exchange(request, plain_error_page))
    assert status == b"HTTP/1.1 500 Internal Server Error"
    assert headers[b"content-type"] == b"text/plain; charset=utf-8"
    assert body == b"internal error\n"


async def test_upgrades_are_refused() -> None:
    request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
    status, _, body = split(await exchange(request, plain_error_page))
    assert status == b"HTTP/1.1 400 Bad Request" and body == b"upgrades are not supported\n"


class ClosingTransport(FakeTransport):
    """Tells its protocol the connection is gone when closed, as asyncio does."""

    def __init__(self, proto: HttpProtocol) -> None:
        super().__init__()
        self.proto = proto

    def close(self) -> None:
        if not self.closing:
            super().close()
            self.proto.connection_lost(None)


class FakeServer:
    closed = False

    def close(self) -> None:
        self.closed = True


def connected(app: Any, connections: set[HttpProtocol]) -> tuple[HttpProtocol, ClosingTransport]:
    proto = HttpProtocol(
        app, asyncio.get_running_loop(), ("127.0.0.1", 80), connections=connections
    )
    transport = ClosingTransport(proto)
    proto.connection_made(transport)
    return proto, transport


async def test_drain_closes_idle_connections_and_lets_a_request_being_served_finish() -> None:
    release = asyncio.Event()

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    connections: set[HttpProtocol] = set()
    busy, busy_transport = connected(slow, connections)
    busy.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    _idle, idle_transport = connected(slow, connections)
    server = FakeServer()
    draining = asyncio.ensure_future(drain(server, connections, 5))  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert server.closed and idle_transport.closing
    assert not busy_transport.closing and not draining.done()
    release.set()
    assert await draining == 0
    status, headers, body = split(bytes(busy_transport.written))
    assert (status, headers[b"connection"], body) == (b"HTTP/1.1 200 OK", b"close", b"ok")
    assert busy_transport.closing and not connections


async def test_drain_cuts_what_is_still_busy_after_the_grace() -> None:
    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.Event().wait()

    connections: set[HttpProtocol] = set()
    busy, transport = connected(stuck, connections)
    busy.data_received(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert await drain(FakeServer(), connections, 0.2) == 1  # type: ignore[arg-type]
    assert transport.closing and not connections
    if busy.cycle is not None and busy.cycle.task is not None:
        busy.cycle.task.cancel()
