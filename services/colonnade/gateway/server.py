"""A small HTTP/1.1 server for ASGI applications, on asyncio and httptools' parser.

Why our own: the gateway must send `Grpc-Trailer-*` as HTTP/1.1 chunked trailers, which needs
the ASGI `http.response.trailers` extension, and no released Python server offers it over
HTTP/1.1 (hypercorn has it for HTTP/2 only, uvicorn's pull request is not merged, granian's was
closed). A lean server is also cheaper per request than a general one, and the gateway's CPU per
request is what the benchmark judges. It does keep-alive, pipelining (one request at a time per
connection), chunked request and response bodies, `Expect: 100-continue`, back-pressure both
ways and trailers when the client sent `TE: trailers`. TLS and HTTP/2 are left to the load
balancer in front (ALB / API Gateway terminate them).

It holds every client to limits (:class:`Limits`): a request head must arrive within
`header_timeout` and within `max_header_bytes` / `max_header_count` (431 otherwise), a body
must keep arriving (`body_timeout` between pieces, 408 otherwise), and an idle keep-alive
connection is closed after `keep_alive_timeout`. Framing is llhttp's, which already refuses
what request smuggling needs (Content-Length with Transfer-Encoding, two Content-Lengths,
obs-fold, bare LF or CR, chunk sizes that overflow, bad chunk extensions); on top of it a
Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1: faulty framing, llhttp ignores it),
two Host headers or none in HTTP/1.1 (RFC 9112 §3.2) and versions other than 1.0 and 1.1 are
refused, and every refusal closes the connection.

It knows HTTP, not the application: the two answers it gives itself (400 for a request it
cannot parse, 500 when the application raised before responding) are rendered by an
`ErrorPage` the caller passes, so they can match the application's own error format; the
default is plain text.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import httptools

log = logging.getLogger("colonnade.gateway.server")
App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
#: Renders the server's own error answers: (HTTP status, message) -> (content type, body).
ErrorPage = Callable[[int, str], tuple[bytes, bytes]]
_REASONS = {
    200: b"OK",
    201: b"Created",
    202: b"Accepted",
    204: b"No Content",
    400: b"Bad Request",
    401: b"Unauthorized",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    408: b"Request Timeout",
    409: b"Conflict",
    413: b"Content Too Large",
    415: b"Unsupported Media Type",
    429: b"Too Many Requests",
    431: b"Request Header Fields Too Large",
    499: b"Client Closed Request",
    500: b"Internal Server Error",
    501: b"Not Implemented",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}
_HIGH_WATER = 256 * 1024
#: How long a refused connection is drained before it is closed (see _reject).
_LINGER = 2.0


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client connection may take of the server (times in seconds)."""

    #: From a request's first byte to the end of its head (408); also how long a new
    #: connection may stay silent (closed without an answer).
    header_timeout: float = 10.0
    #: The longest wait for the next piece of a request body the server is ready to read.
    body_timeout: float = 30.0
    #: An idle keep-alive connection is closed after this (above the ALB's 60 s idle timeout,
    #: so the load balancer, not the gateway, closes first and never races a new request).
    keep_alive_timeout: float = 75.0
    #: The request line and the header fields, in bytes, and the number of header fields.
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100


class _Refused(Exception):
    """Raised in a parser callback: answer `status` with `message` and close."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plain_error_page(status: int, message: str) -> tuple[bytes, bytes]:
    """The default error page: the message as text."""
    return b"text/plain; charset=utf-8", message.encode("utf-8", "replace") + b"\n"


_date_cache: list[Any] = [0, b""]


def _date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = email.utils.formatdate(now, usegmt=True).encode()
    return _date_cache[1]  # type: ignore[no-any-return]


class _Cycle:
    """One request/response exchange: the ASGI receive and send of one request."""

    def __init__(
        self,
        proto: HttpProtocol,
        scope: dict[str, Any],
        keep_alive: bool,
        expect_continue: bool,
        te_trailers: bool,
    ) -> None:
        self.proto = proto
        self.scope = scope
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.te_trailers = te_trailers
        self.body: deque[bytes] = deque()
        self.body_size = 0
        self.complete = False  # request body fully received
        self.event = asyncio.Event()
        self.started = False
        self.chunked = False
        self.want_trailers = False
        self.finished = False  # response fully sent
        self.end_delivered = False  # the app saw more_body=False
        self.head = False
        self.pending_head = b""
        self.task: asyncio.Task[None] | None = None

    # ASGI receive
    async def receive(self) -> dict[str, Any]:
        if self.expect_continue and not self.started:
            self.expect_continue = False
            self.proto.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.proto.body_invited()
        while not self.body and not self.complete and not self.proto.closed:
            self.event.clear()
            self.proto.resume()
            await self.event.wait()
        if self.body:
            chunk = self.body.popleft()
            self.body_size -= len(chunk)
            if self.body_size < _HIGH_WATER:
                self.proto.resume()
            more = bool(self.body) or not self.complete
            if not more:
                self.end_delivered = True
            return {"type": "http.request", "body": chunk, "more_body": more}
        if self.complete and not self.end_delivered and not self.proto.closed:
            self.end_delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        # After the body: wait until the response is done or the client leaves.
        while not self.proto.closed and not self.finished:
            self.event.clear()
            await self.event.wait()
        return {"type": "http.disconnect"}

    # ASGI send
    async def send(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        proto = self.proto
        if kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self.started = True
            status = int(message["status"])
            headers = list(message.get("headers", ()))
            self.want_trailers = bool(message.get("trailers"))
            has_length = any(k.lower() == b"content-length" for k, _ in headers)
            no_body = status in (204, 304) or 100 <= status < 200
            self.chunked = not has_length and not no_body
            if self.want_trailers and not self.te_trailers:
                headers = [(k, v) for k, v in headers if k.lower() != b"trailer"]
            out = [b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))]
            out.append(b"date: " + _date() + b"\r\n")
            for k, v in headers:
                out.append(k + b": " + v + b"\r\n")
            if self.chunked:
                out.append(b"transfer-encoding: chunked\r\n")
            if not self.keep_alive:
                out.append(b"connection: close\r\n")
            out.append(b"\r\n")
            self.pending_head = b"".join(out)
            return
        if kind == "http.response.body":
            if not self.started:
                raise RuntimeError("http.response.body before http.response.start")
            if self.finished:
                return
            if proto.closed:
                raise ConnectionResetError("the client closed the connection")
            body = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            data = self.pending_head
            self.pending_head = b""
            if self.head:
                body = b""
            if self.chunked:
                if body:
                    data += b"%x\r\n" % len(body) + body + b"\r\n"
                if not more and not self.want_trailers:
                    data += b"0\r\n\r\n"
            else:
                data += body
            if data:
                proto.write(data)
            if not more:
                if self.want_trailers and self.chunked:
                    return  # the trailers message ends the response
                self._done()
            else:
                await proto.drain()
            return
        if kind == "http.response.trailers":
            if self.finished:
                return
            out = [b"0\r\n"]
            if self.te_trailers:
                for k, v in message.get("headers", ()):
                    out.append(k + b": " + v + b"\r\n")
            out.append(b"\r\n")
            if not message.get("more_trailers", False):
                proto.write(b"".join(out))
                self._done()
            return
        raise RuntimeError(f"unexpected ASGI message {kind!r}")

    def _done(self) -> None:
        self.finished = True
        self.event.set()
        self.proto.cycle_done(self)


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self,
        app: App,
        loop: asyncio.AbstractEventLoop,
        server_addr: tuple[str, int],
        max_pipeline: int = 16,
        error_page: ErrorPage = plain_error_page,
        limits: Limits = Limits(),
        connections: set[HttpProtocol] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.error_page = error_page
        self.loop = loop
        self.server_addr = server_addr
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.cycle: _Cycle | None = None
        self.queue: deque[_Cycle] = deque()
        self.paused_reading = False
        self.write_ok = asyncio.Event()
        self.write_ok.set()
        self.client: tuple[str, int] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._current: _Cycle | None = None
        self.max_pipeline = max_pipeline
        # One timer per connection, re-armed lazily: moving `_deadline` costs an assignment,
        # and the timer, when it fires early, sleeps again until the deadline (see _expire).
        self._phase = "idle"  # idle (between requests), head, body, or "" (nothing awaited)
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # request line and fields, as the parser reports them
        self._head_stream = 0  # bytes received while a head is incomplete
        self._head_count = 0
        self._begun = 0  # requests begun on this connection
        self.lingering = False
        self.connections = connections
        self.draining = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.connections is not None:
            self.connections.add(self)
        peer = transport.get_extra_info("peername")
        if peer:
            self.client = (str(peer[0]), int(peer[1]))
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Nothing sent yet: closed quietly after header_timeout, like an idle keep-alive
        # connection (a browser's unused pre-connection should not read a 408).
        self._await("idle", self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.connections is not None:
            self.connections.discard(self)
        self.write_ok.set()
        for c in [self.cycle, self._current, *self.queue]:
            if c is not None:
                c.event.set()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # after a refusal: read and dropped until the socket closes
        in_head = self._phase == "head"
        begun = self._begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(400, "upgrades are not supported")
            return
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._reject(refused.status, refused.message)
            else:
                self._reject(400, f"malformed HTTP request: {exc}")
            return
        if self._phase == "head":
            # A head still incomplete: count the pieces that arrived wholly inside it, so a
            # field that never ends (httptools buffers it until it does) cannot grow unbounded.
            if in_head and begun == self._begun:
                self._head_stream += len(data)
                if self._head_stream > self.limits.max_header_bytes:
                    self._reject(431, self._too_large())
        elif self._phase == "body":
            self._deadline = self.loop.time() + self.limits.body_timeout

    def pause_writing(self) -> None:
        self.write_ok.clear()

    def resume_writing(self) -> None:
        self.write_ok.set()

    # parser callbacks
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._head_bytes = self._head_stream = self._head_count = 0
        self._begun += 1
        if self._phase != "head":
            self._await("head", self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if self._head_bytes > self.limits.max_header_bytes:
            raise _Refused(431, self._too_large())

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_count += 1
        self._head_bytes += len(name) + len(value) + 4
        limits = self.limits
        if self._head_count > limits.max_header_count:
            raise _Refused(431, f"more than {limits.max_header_count} header fields")
        if self._head_bytes > limits.max_header_bytes:
            raise _Refused(431, self._too_large())
        self._headers.append((name.lower(), value))

    def _too_large(self) -> str:
        return f"the request line and headers exceed {self.limits.max_header_bytes} bytes"

    def _check_framing(self, version: str) -> None:
        """Refuses what llhttp lets through but a proxy in front may read differently."""
        if version not in ("1.1", "1.0"):
            raise _Refused(505, f"HTTP/{version} is not supported (HTTP/1.1 is)")
        hosts = 0
        for k, _ in self._headers:
            if k == b"host":
                hosts += 1
            elif k == b"transfer-encoding" and version == "1.0":
                raise _Refused(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request")
        if hosts > 1:
            raise _Refused(400, "more than one Host header")
        if hosts == 0 and version == "1.1":
            raise _Refused(400, "an HTTP/1.1 request needs a Host header")

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        self._check_framing(version)
        self._await("body", self.limits.body_timeout)
        url = httptools.parse_url(self._url)
        raw_path = url.path
        try:
            path = raw_path.decode("utf-8")
        except UnicodeDecodeError:
            path = raw_path.decode("latin-1")
        method = parser.get_method().decode("ascii")
        keep_alive = parser.should_keep_alive()
        expect = te = False
        for k, v in self._headers:
            if k == b"expect" and v.lower() == b"100-continue":
                expect = True
            elif k == b"te" and b"trailers" in v.lower():
                te = True
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": version,
            "server": self.server_addr,
            "client": self.client,
            "scheme": "http",
            "method": method,
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": self._headers,
            "extensions": {"http.response.trailers": {}},
        }
        cycle = _Cycle(self, scope, keep_alive and not self.draining, expect, te)
        cycle.head = method == "HEAD"
        self._current = cycle
        if self.cycle is None:
            self._start(cycle)
        else:
            self.queue.append(cycle)
            if len(self.queue) >= self.max_pipeline:
                self.pause()

    def on_body(self, body: bytes) -> None:
        c = self._current
        if c is None:
            return
        c.body.append(body)
        c.body_size += len(body)
        if c.body_size >= _HIGH_WATER:
            self.pause()
        c.event.set()

    def on_message_complete(self) -> None:
        c = self._current
        if c is None:
            return
        c.complete = True
        c.event.set()
        self._current = None
        self._phase = ""  # the application answers; nothing is awaited from the client

    # deadlines
    def body_invited(self) -> None:
        """A `100 Continue` went out: the client's body_timeout starts now."""
        if self._phase == "body":
            self._deadline = self.loop.time() + self.limits.body_timeout

    def _await(self, phase: str, timeout: float) -> None:
        """From now on the client owes `phase` (idle, head, body) within `timeout`."""
        self._phase = phase
        self._deadline = self.loop.time() + timeout
        if self._timer is None and not self.closed:
            self._timer = self.loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if self.closed or not self._phase:
            return
        now = self.loop.time()
        if now < self._deadline or (self._phase == "body" and self.paused_reading):
            # moved on since the timer was set, or the server itself is not reading
            self._deadline = max(self._deadline, now + 0.05)
            self._timer = self.loop.call_at(self._deadline, self._expire)
            return
        phase, limits = self._phase, self.limits
        waiting = self.cycle is None or (self.cycle is self._current and not self.cycle.started)
        if phase == "idle" or not waiting:
            log.info("closing a connection", extra={"reason": f"{phase} timeout"})
            self._close()
        elif phase == "head":
            self._reject(
                408, f"the request headers did not arrive within {limits.header_timeout:g} s"
            )
        else:
            self._reject(408, f"the request body stopped arriving for {limits.body_timeout:g} s")

    # flow control
    def pause(self) -> None:
        if not self.paused_reading and self.transport is not None and not self.closed:
            self.paused_reading = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused_reading and self.transport is not None and not self.closed:
            self.paused_reading = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        if not self.write_ok.is_set():
            await self.write_ok.wait()

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def shutdown(self) -> None:
        """Stop after the response being written (``connection: close``), or now if idle."""
        self.draining = True
        if self.cycle is None and self._current is None:
            self._close()
            return
        for c in (self.cycle, self._current, *self.queue):
            if c is not None:
                c.keep_alive = False

    # cycles
    def _start(self, cycle: _Cycle) -> None:
        self.cycle = cycle
        cycle.task = self.loop.create_task(self._run(cycle))

    async def _run(self, cycle: _Cycle) -> None:
        try:
            await self.app(cycle.scope, cycle.receive, cycle.send)
        except ConnectionError:
            pass
        except Exception:
            log.exception("unhandled error in the application")
            if not cycle.started and not self.closed:
                content_type, body = self.error_page(500, "internal error")
                await cycle.send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", content_type),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await cycle.send({"type": "http.response.body", "body": body})
            elif not cycle.finished:
                self._close()
                return
        if not cycle.finished and not self.closed:
            if not cycle.started:
                log.error("the application returned without a response")
            self._close()

    def cycle_done(self, cycle: _Cycle) -> None:
        # A body the application did not read to the end leaves the parser mid-message.
        if self._current is cycle:
            self._linger()
            return
        if not cycle.keep_alive:
            self._close()
            return
        self.cycle = None
        if self.queue:
            self._start(self.queue.popleft())
        elif self._current is None:
            self._await("idle", self.limits.keep_alive_timeout)
        self.resume()

    def _reject(self, status: int, message: str) -> None:
        content_type, body = self.error_page(status, message)
        self.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n"
            % (status, _REASONS[status], content_type, len(body))
            + body
        )
        self._linger()

    def _linger(self) -> None:
        """Closes after an answer while the client may still be sending (a refusal, or an
        answer given before the body was read). Closing a socket with unread input makes the
        kernel send a reset, which can destroy the answer before the client has read it:
        half-close instead, discard what still comes for a while, then close."""
        transport = self.transport
        if transport is None or self.closed or not transport.can_write_eof():
            self._close()
            return
        transport.write_eof()
        self.lingering = True
        if self.paused_reading:
            self.paused_reading = False
            transport.resume_reading()
        self.loop.call_later(_LINGER, transport.close)
        self._close(transport_too=False)

    def _close(self, transport_too: bool = True) -> None:
        if self.transport is not None and not self.closed and transport_too:
            self.transport.close()
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for c in [self.cycle, self._current, *self.queue]:
            if c is not None:
                c.event.set()


async def serve(
    app: App,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
    error_page: ErrorPage = plain_error_page,
    limits: Limits = Limits(),
    connections: set[HttpProtocol] | None = None,
) -> asyncio.base_events.Server:
    """Starts serving `app`; returns the asyncio server (already listening). `connections`,
    when given, holds the open connections (for :func:`drain`)."""
    loop = asyncio.get_running_loop()
    holder: dict[str, tuple[str, int]] = {}

    def factory() -> HttpProtocol:
        return HttpProtocol(
            app,
            loop,
            holder["addr"],
            error_page=error_page,
            limits=limits,
            connections=connections,
        )

    if sock is not None:
        server = await loop.create_server(factory, sock=sock, backlog=2048)
    else:
        server = await loop.create_server(
            factory, host, port, reuse_port=reuse_port or None, backlog=2048
        )
    addr = server.sockets[0].getsockname()
    holder["addr"] = (str(addr[0]), int(addr[1]))
    return server


async def drain(
    server: asyncio.base_events.Server, connections: set[HttpProtocol], grace: float
) -> int:
    """Graceful stop: stop accepting, close idle keep-alive connections, let the requests
    being served finish (their responses say ``connection: close``) for up to `grace`
    seconds, then close what is left; how many connections had to be cut."""
    loop = asyncio.get_running_loop()
    server.close()
    for conn in list(connections):
        conn.shutdown()
    deadline = loop.time() + grace
    # polled: the set is updated by the protocols' callbacks, once per connection closed
    while connections and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    cut = len(connections)
    for conn in list(connections):
        conn._close()
    return cut
