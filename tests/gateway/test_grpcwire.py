"""Protocol edge cases of the gateway's own gRPC client (`colonnade.gateway.grpcwire`).

The normal paths run against real grpc.aio servers in test_http.py and friends. These tests
script what a real gRPC server rarely does, against an HTTP/2 implementation independent of
grpcwire's own frame code: the `h2` library (python-hyper) used server side, on a loopback
asyncio server. Each test hands the harness a handler that decides, per request, which
HEADERS / DATA / trailers / RST_STREAM / GOAWAY / SETTINGS / PING frames go back, and the
harness records what the client sent (h2 events, and every raw frame it read).

The scripted servers validate inbound headers as h2 does (pseudo-headers first, no
connection-specific fields), so every request the client sends is checked for that too.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import logging
import os
import re
import socket
import struct
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, NamedTuple

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
from h2.errors import ErrorCodes
from h2.settings import SettingCodes

from colonnade.gateway import grpcwire
from colonnade.gateway.grpcwire import Channel, RpcError

pytestmark = pytest.mark.timeout(15)

Headers = list[tuple[bytes, bytes]]
MiB = 1 << 20

# HTTP/2 frame types (RFC 9113 section 6), spelled out here rather than taken from grpcwire.
DATA, HEADERS, RST_STREAM, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x0, 0x1, 0x3, 0x7, 0x8, 0x9
END_STREAM, END_HEADERS = 0x1, 0x4

# gRPC status codes (google/rpc/code.proto)
CANCELLED, UNKNOWN, DEADLINE_EXCEEDED, NOT_FOUND, RESOURCE_EXHAUSTED = 1, 2, 4, 5, 8
ABORTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 10, 12, 13, 14, 16

GRPC_OK: Headers = [(b":status", b"200"), (b"content-type", b"application/grpc")]
PATH = "/test.v1.Echo/Call"


# -- gRPC framing -----------------------------------------------------------------------------


def grpc_frame(payload: bytes, *, compressed: bool = False, declared: int | None = None) -> bytes:
    """One length-prefixed gRPC message (`declared` overrides the length field)."""
    size = len(payload) if declared is None else declared
    return struct.pack(">BI", int(compressed), size) + payload


def grpc_unframe(body: bytes) -> list[bytes]:
    """The messages of a request body; fails on a compressed or truncated message."""
    out, pos = [], 0
    while pos < len(body):
        flag, size = struct.unpack_from(">BI", body, pos)
        assert flag == 0, "the client compressed a request"
        assert pos + 5 + size <= len(body), "a truncated request message"
        out.append(body[pos + 5 : pos + 5 + size])
        pos += 5 + size
    return out


def raw_frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """An HTTP/2 frame built by hand, for what h2's state machine would not send."""
    return (
        struct.pack(">I", len(payload))[1:]
        + bytes((kind, flags))
        + struct.pack(">I", stream_id)
        + payload
    )


def b64(data: bytes, *, pad: bool = True) -> bytes:
    out = base64.b64encode(data)
    return out if pad else out.rstrip(b"=")


_UNIT_SECONDS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_grpc_timeout(value: bytes) -> float:
    """Seconds of a `grpc-timeout` value, checking the wire format (1-8 digits and a unit)."""
    m = re.fullmatch(rb"(\d{1,8})([HMSmun])", value)
    assert m, f"malformed grpc-timeout {value!r}"
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


# -- the scripted HTTP/2 server ---------------------------------------------------------------


class Frame(NamedTuple):
    kind: int
    flags: int
    stream_id: int
    length: int
    payload: bytes


def split_frames(data: bytes) -> list[Frame]:
    out, pos = [], 0
    while pos + 9 <= len(data):
        n = int.from_bytes(data[pos : pos + 3], "big")
        sid = int.from_bytes(data[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
        payload = data[pos + 9 : pos + 9 + n] if n <= 64 else b""
        out.append(Frame(data[pos + 3], data[pos + 4], sid, n, payload))
        pos += 9 + n
    return out


class StreamGone(Exception):
    """The client reset the stream, or the connection closed, while the server was sending."""


class Request:
    """One request stream as the server sees it; a handler answers through its methods."""

    def __init__(self, conn: ServerConn, stream_id: int, headers: Headers) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.headers = headers
        self.body = bytearray()
        self.ended = asyncio.Event()  # the client's END_STREAM
        self.reset = asyncio.Event()  # the client's RST_STREAM
        self.reset_code: int | None = None
        self.sent = 0  # flow-controlled bytes sent on this stream
        self.blocked = asyncio.Event()  # send_data found the window exhausted

    def __repr__(self) -> str:
        return f"<Request conn={self.conn.index} stream={self.stream_id}>"

    def header(self, name: bytes) -> bytes | None:
        return next((v for k, v in self.headers if k == name), None)

    async def messages(self) -> list[bytes]:
        await self.ended.wait()
        return grpc_unframe(bytes(self.body))

    def send_headers(
        self, headers: Iterable[tuple[bytes, bytes]], *, end_stream: bool = False
    ) -> None:
        self.conn.h2.send_headers(self.stream_id, list(headers), end_stream=end_stream)
        self.conn.flush()

    def send_now(self, data: bytes, *, end_stream: bool = False) -> None:
        """DATA that must fit the current windows (small payloads), in max-size frames."""
        h2c = self.conn.h2
        step = h2c.max_outbound_frame_size
        assert len(data) <= h2c.local_flow_control_window(self.stream_id)
        chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        for i, chunk in enumerate(chunks):
            h2c.send_data(self.stream_id, chunk, end_stream=end_stream and i == len(chunks) - 1)
            self.sent += len(chunk)
        self.conn.flush()

    async def send_data(
        self, data: bytes, *, pad_length: int | None = None, max_chunk: int | None = None
    ) -> None:
        """DATA under flow control: waits for the client's WINDOW_UPDATEs when blocked."""
        conn, h2c = self.conn, self.conn.h2
        overhead = 0 if pad_length is None else pad_length + 1
        view, pos = memoryview(data), 0
        while pos < len(data):
            if self.reset_code is not None or conn.closed:
                raise StreamGone(f"{self!r} reset with {self.reset_code}")
            conn.window_changed.clear()
            room = min(h2c.local_flow_control_window(self.stream_id), h2c.max_outbound_frame_size)
            n = min(len(data) - pos, room - overhead, max_chunk or len(data))
            if n <= 0:
                self.blocked.set()
                conn.server.changed()
                await conn.window_changed.wait()
                continue
            h2c.send_data(self.stream_id, view[pos : pos + n].tobytes(), pad_length=pad_length)
            pos += n
            self.sent += n + overhead
            conn.flush()
            await conn.writer.drain()

    def send_trailers(
        self,
        status: int = 0,
        message: bytes | None = None,
        extra: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        trailers = [(b"grpc-status", str(status).encode())]
        if message is not None:
            trailers.append((b"grpc-message", message))
        self.send_headers([*trailers, *extra], end_stream=True)

    def respond(
        self,
        *messages: bytes,
        status: int = 0,
        initial: Iterable[tuple[bytes, bytes]] = (),
        trailing: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        """A whole small response, written in one go."""
        h2c = self.conn.h2
        h2c.send_headers(self.stream_id, [*GRPC_OK, *initial])
        if messages:
            self.send_now(b"".join(grpc_frame(m) for m in messages))
        self.send_trailers(status, extra=trailing)

    def reset_stream(self, code: int) -> None:
        self.conn.h2.reset_stream(self.stream_id, code)
        self.conn.flush()


class ServerConn:
    """One accepted connection, driven by an h2 server-side state machine."""

    def __init__(
        self,
        server: H2Server,
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.index = index
        self.reader = reader
        self.writer = writer
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_inbound_headers=server.validate
        )
        self.h2 = h2.connection.H2Connection(config)
        if server.settings:
            values: dict[SettingCodes, int] = {
                SettingCodes.MAX_CONCURRENT_STREAMS: 100,
                SettingCodes.MAX_HEADER_LIST_SIZE: 65536,
                **server.settings,
            }
            self.h2.local_settings = h2.settings.Settings(client=False, initial_values=values)
            self.h2.max_inbound_frame_size = self.h2.local_settings.max_frame_size
        self.requests: dict[int, Request] = {}
        self.frames_in: list[Frame] = []  # every frame the client sent
        self.frames_out: list[Frame] = []  # every frame the server sent
        self.goaways_in: list[tuple[int, int]] = []  # (last stream id, error code) from the client
        self.resets_in: dict[int, int] = {}  # RST_STREAM error code by stream, as sent
        self.ping_acks: list[bytes] = []
        self.window_changed = asyncio.Event()
        self.closed = False
        self._inbuf = bytearray()
        self._preface = False
        self.h2.initiate_connection()
        self.flush()

    def write(self, data: bytes) -> None:
        self.frames_out.extend(split_frames(data))
        if not self.writer.is_closing():
            self.writer.write(data)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.write(data)

    async def trickle(self, step: int) -> None:
        """Writes what h2 has queued `step` bytes at a time, so frames arrive in pieces."""
        data = self.h2.data_to_send()
        self.frames_out.extend(split_frames(data))
        for i in range(0, len(data), step):
            self.writer.write(data[i : i + step])
            await self.writer.drain()
            await asyncio.sleep(0.002)

    def goaway(self, last_stream_id: int, code: int = 0, debug: bytes = b"") -> None:
        """A raw GOAWAY: h2's close_connection() would refuse to finish the older streams."""
        self.write(raw_frame(GOAWAY, 0, 0, struct.pack(">II", last_stream_id, code) + debug))

    def abort(self) -> None:
        self.writer.close()

    async def run(self) -> None:
        try:
            while not self.writer.is_closing():
                data = await self.reader.read(65536)
                if not data:
                    break
                self._feed(data)
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed = True
            self.window_changed.set()
            self.writer.close()
            self.server.changed()

    def _feed(self, data: bytes) -> None:
        buf = self._inbuf
        buf += data
        out = bytearray()
        if not self._preface:
            if len(buf) < 24:
                return
            out += buf[:24]
            del buf[:24]
            self._preface = True
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            raw = bytes(buf[: 9 + n])
            del buf[: 9 + n]
            (f,) = split_frames(raw)
            self.frames_in.append(f._replace(payload=raw[9:]) if f.kind == GOAWAY else f)
            if f.kind == RST_STREAM and f.length == 4:
                self.resets_in[f.stream_id] = int.from_bytes(raw[9:13], "big")
            if f.kind == GOAWAY:  # kept from h2, whose state machine would stop the other streams
                self.goaways_in.append(struct.unpack_from(">II", raw, 9))
                continue
            out += raw
        if out:
            try:
                events = self.h2.receive_data(bytes(out))
            except h2.exceptions.ProtocolError as exc:
                self.server.protocol_errors.append(exc)
                self.flush()
                self.writer.close()
                self.server.changed()
                return
            for event in events:
                self._on_event(event)
            self.flush()
        self.server.changed()

    def _on_event(self, e: h2.events.Event) -> None:
        if isinstance(e, h2.events.RequestReceived):
            assert e.stream_id is not None and e.headers is not None
            req = Request(self, e.stream_id, [(bytes(k), bytes(v)) for k, v in e.headers])
            self.requests[e.stream_id] = req
            self.server.requests.append(req)
            self.server.max_open = max(self.server.max_open, self.h2.open_inbound_streams)
            if self.server.handler is not None:
                self.server.spawn(self.server.handler(req))
        elif isinstance(e, h2.events.DataReceived):
            assert e.stream_id is not None and e.data is not None
            self.requests[e.stream_id].body += e.data
            if self.server.auto_ack and e.flow_controlled_length:
                self.h2.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
        elif isinstance(e, h2.events.StreamEnded):
            assert e.stream_id is not None
            self.requests[e.stream_id].ended.set()
        elif isinstance(e, h2.events.StreamReset):
            assert e.stream_id is not None
            req = self.requests[e.stream_id]
            req.reset_code = e.error_code
            req.reset.set()
            self.window_changed.set()
        elif isinstance(e, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self.window_changed.set()
        elif isinstance(e, h2.events.PingAckReceived):
            assert e.ping_data is not None
            self.ping_acks.append(e.ping_data)


Handler = Callable[[Request], Awaitable[None]]


class H2Server:
    """A loopback HTTP/2 server; `handler(request)` runs as a task for every request."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        validate: bool = True,
        settings: dict[SettingCodes, int] | None = None,
        auto_ack: bool = True,
    ) -> None:
        self.handler = handler
        self.validate = validate
        self.settings = settings
        self.auto_ack = auto_ack  # return the request bytes to the client's window
        self.conns: list[ServerConn] = []
        self.requests: list[Request] = []
        self.max_open = 0  # most request streams open at once, as h2 counts them
        self.protocol_errors: list[Exception] = []
        self.handler_errors: list[BaseException] = []
        self.target = ""
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()

    async def start(
        self, *, sock: socket.socket | None = None, unix_path: str | None = None
    ) -> None:
        if unix_path is not None:
            self._server = await asyncio.start_unix_server(self._accept, unix_path)
            self.target = f"unix:{unix_path}"
            return
        if sock is not None:
            self._server = await asyncio.start_server(self._accept, sock=sock)
        else:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.target = f"127.0.0.1:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConn(self, len(self.conns), reader, writer)
        self.conns.append(conn)
        self.changed()
        await conn.run()

    def spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.handler_errors.append(task.exception())  # type: ignore[arg-type]

    def changed(self) -> None:
        self._changed.set()

    async def until(self, predicate: Callable[[], Any], timeout: float = 3.0) -> None:  # noqa: ASYNC109
        """Waits until `predicate()` holds, re-checking whenever the server saw something."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        for conn in self.conns:
            conn.writer.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


StartServer = Callable[..., Awaitable[H2Server]]
MakeChannel = Callable[..., Channel]


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


@pytest.fixture
async def channels() -> AsyncIterator[MakeChannel]:
    made: list[Channel] = []

    def make(target: str, **options: Any) -> Channel:
        channel = Channel(target, **options)
        made.append(channel)
        return channel

    yield make
    for channel in made:
        await channel.close()


async def echo(req: Request) -> None:
    (message,) = await req.messages()
    req.respond(message)


async def never_answer(req: Request) -> None:
    return None


async def client_reset(req: Request) -> int:
    """The error code of the RST_STREAM the client sent on `req`'s stream (raw frames: h2
    drops a reset of a stream it already closed)."""
    await req.conn.server.until(lambda: req.stream_id in req.conn.resets_in, timeout=1.0)
    return req.conn.resets_in[req.stream_id]


async def rpc_error(call: Awaitable[Any]) -> RpcError:
    with pytest.raises(RpcError) as info:
        await call
    return info.value


async def read_all(call: grpcwire.StreamCall) -> list[bytes]:
    out = []
    while (message := await call.read()) is not None:
        out.append(message)
    return out


# -- 1. unary happy path ----------------------------------------------------------------------


async def test_unary_request_and_metadata_arrive_intact(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(
            b"reply:" + message,
            initial=[(b"x-initial", b"i1"), (b"initial-bin", b64(b"\x00\xfe", pad=False))],
            trailing=[(b"x-trailing", b"t1"), (b"trailing-bin", b64(b"\xff"))],
        )

    server = await h2servers(handler)
    channel = channels(server.target)
    request = b"\x08\x96\x01\x00request\xff"
    md = grpcwire.encode_metadata([("X-Custom", "value 1"), ("trace-bin", b"\x00\x01\xfe\xff")])
    resp = await channel.unary(PATH, request, md, timeout=1.5)

    assert resp.message == b"reply:" + request
    assert resp.initial == [(b"x-initial", b"i1"), (b"initial-bin", b"AP4")]
    assert resp.trailing == [(b"x-trailing", b"t1"), (b"trailing-bin", b"/w==")]
    assert grpcwire.decode_binary(resp.initial[1][1]) == b"\x00\xfe"

    (req,) = server.requests
    assert req.header(b":method") == b"POST"
    assert req.header(b":scheme") == b"http"
    assert req.header(b":path") == PATH.encode()
    assert req.header(b":authority") == server.target.encode()
    assert req.header(b"te") == b"trailers"
    assert req.header(b"content-type") == b"application/grpc"
    assert req.header(b"user-agent") == b"colonnade-gateway"
    timeout = req.header(b"grpc-timeout")
    assert timeout is not None
    assert 1.0 < parse_grpc_timeout(timeout) <= 1.5
    assert req.header(b"x-custom") == b"value 1"
    assert grpcwire.decode_binary(req.header(b"trace-bin") or b"") == b"\x00\x01\xfe\xff"
    assert bytes(req.body) == b"\x00" + struct.pack(">I", len(request)) + request
    # no timeout, no grpc-timeout header
    await channel.unary(PATH, b"x")
    assert server.requests[1].header(b"grpc-timeout") is None


async def test_pseudo_headers_precede_regular_headers(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    lenient = await h2servers(echo)
    await channels(lenient.target).unary(PATH, b"x", timeout=1.0)
    names = [k for k, _ in lenient.requests[0].headers]
    first_regular = next(i for i, k in enumerate(names) if not k.startswith(b":"))
    assert all(not k.startswith(b":") for k in names[first_regular:]), names

    strict = await h2servers(echo, validate=True)
    resp = await channels(strict.target).unary(PATH, b"x", timeout=1.0)
    assert resp.message == b"x"


async def test_unix_socket_target(h2servers: StartServer, channels: MakeChannel) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        server = await h2servers(echo, unix_path=os.path.join(tmp, "grpc.sock"))
        channel = channels(server.target)
        assert (await channel.unary(PATH, b"over unix", timeout=1.0)).message == b"over unix"
        assert server.requests[0].header(b":authority") == b"localhost"


async def test_hpack_dynamic_table_stays_in_step_across_calls(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    """h2's encoder indexes response headers, evicts entries (1.5 KB values in a 4 KiB table)
    and re-sends all-indexed blocks: every response must still decode to what was sent."""
    values = {name: os.urandom(1100).hex()[:1500].encode() for name in (b"a", b"b", b"c")}

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(message, initial=[(b"x-v", values[message])], trailing=[(b"x-t", message)])

    server = await h2servers(handler)
    channel = channels(server.target)
    for key in (b"a", b"a", b"b", b"a", b"c", b"c", b"b", b"a", b"a"):
        resp = await channel.unary(PATH, key, timeout=1.0)
        assert resp.initial == [(b"x-v", values[key])]
        assert resp.trailing == [(b"x-t", key)]
    assert len(server.conns) == 1


# -- 2. trailers-only errors ------------------------------------------------------------------


async def test_trailers_only_error_with_percent_encoded_message_and_details(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    details = b"\x08\x05\x12\x0bnot found \xe2\x9c\x97"  # a google.rpc.Status, 16 bytes

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(
            [
                *GRPC_OK,
                (b"grpc-status", b"5"),
                (b"grpc-message", b"caf%C3%A9 100%25 %2F done"),
                (b"grpc-status-details-bin", b64(details, pad=False)),
                (b"x-extra", b"e"),
            ],
            end_stream=True,
        )

    server = await h2servers(handler)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"x", timeout=1.0))
    assert err.code == NOT_FOUND
    assert err.message == "café 100% / done"
    assert err.details_bin() == details
    assert (b"x-extra", b"e") in err.trailing
    assert all(k not in (b"grpc-status", b"grpc-message") for k, _ in err.trailing)

    call = channel.stream(PATH, b"x", timeout=1.0)
    err = await rpc_error(call.read())
    assert (err.code, err.message, err.details_bin()) == (NOT_FOUND, "café 100% / done", details)
    assert len(server.conns) == 1


async def test_error_without_details_and_without_message(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.respond(status=7)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"x", timeout=1.0))
    assert (err.code, err.message, err.details_bin()) == (7, "", None)


# -- 3. CONTINUATION --------------------------------------------------------------------------


async def test_header_blocks_split_into_continuation_frames_both_ways(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    # h2 Huffman-codes what it sends (in pure Python, slowly): 36 KB of base64 still needs
    # two CONTINUATIONs after the HEADERS frame. The client sends literals, 40 KB as is.
    big_request = base64.b64encode(os.urandom(30_000))  # 40 000 bytes
    big_initial = base64.b64encode(os.urandom(27_000))  # 36 000 bytes
    big_trailing = base64.b64encode(os.urandom(27_000))

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(
            message,
            initial=[(b"x-big-initial", big_initial)],
            trailing=[(b"x-big-trailing", big_trailing)],
        )

    server = await h2servers(handler)
    channel = channels(server.target)
    resp = await channel.unary(PATH, b"m", [(b"x-big", big_request)], timeout=5.0)
    assert resp.message == b"m"
    assert resp.initial == [(b"x-big-initial", big_initial)]
    assert resp.trailing == [(b"x-big-trailing", big_trailing)]

    (req,) = server.requests
    assert req.header(b"x-big") == big_request
    conn = server.conns[0]
    # the client's block: HEADERS without END_HEADERS, then CONTINUATIONs, the last one ending it
    block = [f for f in conn.frames_in if f.stream_id == 1 and f.kind in (HEADERS, CONTINUATION)]
    assert [f.kind for f in block] == [HEADERS] + [CONTINUATION] * (len(block) - 1)
    assert len(block) >= 3
    assert [bool(f.flags & END_HEADERS) for f in block] == [False] * (len(block) - 1) + [True]
    assert all(f.length <= 16_384 for f in block)
    # and the server's response headers and trailers both went out split
    out = [(f.kind, f.flags & END_HEADERS) for f in conn.frames_out if f.stream_id == 1]
    assert out == [(HEADERS, 0), (CONTINUATION, 4), (DATA, 0), (HEADERS, 0), (CONTINUATION, 4)]
    # the connection is still in step (HPACK, no interleaving): another call works
    assert (await channel.unary(PATH, b"again", timeout=5.0)).message == b"again"


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


# -- 10. answers that are not (valid) gRPC ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ctype", "code", "text"),
    [
        (b"503", b"text/plain", UNAVAILABLE, "HTTP status 503"),
        (b"404", b"text/plain", UNIMPLEMENTED, "HTTP status 404"),
        (b"401", b"text/plain", UNAUTHENTICATED, "HTTP status 401"),
        (b"500", b"text/html", UNKNOWN, "HTTP status 500"),
        (b"200", b"text/html", UNKNOWN, "content type 'text/html'"),
    ],
)
async def test_non_grpc_answers(
    h2servers: StartServer, channels: MakeChannel, status: bytes, ctype: bytes, code: int, text: str
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([(b":status", status), (b"content-type", ctype)])
        req.send_now(b"<html>not gRPC</html>", end_stream=True)

    server = await h2servers(handler)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
    assert err.code == code
    assert err.message == f"the backend's answer is not gRPC ({text})"
    # the connection survives (the late DATA is dropped and credited)
    server.handler = echo
    assert (await channel.unary(PATH, b"ok", timeout=1.0)).message == b"ok"


async def _unary_against(
    h2servers: StartServer, channels: MakeChannel, script: Handler
) -> tuple[RpcError, H2Server, Channel]:
    server = await h2servers(script)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
    return err, server, channel


async def test_trailers_without_grpc_status_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"m"))
        req.send_headers([(b"x-no-status", b"1")], end_stream=True)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server ended the call without a grpc-status")


async def test_unary_with_zero_messages_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.respond()

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent no response message")


async def test_unary_with_two_messages_is_internal_and_hpack_stays_in_step(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        # the trailers (with a header h2 adds to its dynamic table) reach a stream the client
        # already reset: the client must still decode them for later blocks to make sense
        req.respond(message, message, trailing=[(b"x-indexed", b"dyn-" + message)])

    err, server, channel = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent two responses to a unary call")
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL
    server.handler = echo_with_trailer
    resp = await channel.unary(PATH, b"", timeout=1.0)
    assert resp.trailing == [(b"x-indexed", b"dyn-")]


async def echo_with_trailer(req: Request) -> None:
    (message,) = await req.messages()
    req.respond(message, trailing=[(b"x-indexed", b"dyn-" + message)])


async def test_data_with_end_stream_and_no_trailers_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"m"), end_stream=True)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server ended the call without a status")


async def test_trailers_inside_a_message_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"message")[:8])
        req.send_trailers(0)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the call ended inside a message")


async def test_data_before_headers_is_internal_and_reset(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.conn.write(raw_frame(DATA, 0, req.stream_id, grpc_frame(b"early")))

    err, server, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent DATA before its headers")
    assert await client_reset(server.requests[0]) == ErrorCodes.PROTOCOL_ERROR


async def test_informational_headers_are_skipped(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.send_headers([(b":status", b"100")])
        req.respond(message, initial=[(b"x-final", b"1")])

    server = await h2servers(handler)
    resp = await channels(server.target).unary(PATH, b"m", timeout=1.0)
    assert (resp.message, resp.initial) == (b"m", [(b"x-final", b"1")])


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


# -- 14. compression --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [(b"gzip", gzip.compress), (b"deflate", zlib.compress)],
)
async def test_compressed_response_is_decompressed(
    h2servers: StartServer,
    channels: MakeChannel,
    encoding: bytes,
    compress: Callable[[bytes], bytes],
) -> None:
    payload = b"compressible " * 1000

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"grpc-encoding", encoding)])
        req.send_now(grpc_frame(compress(payload), compressed=True) + grpc_frame(b"plain"))
        req.send_trailers(0)

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=1.0)
    assert await read_all(call) == [payload, b"plain"]
    assert call.initial_metadata == []  # grpc-encoding is transport, not metadata


@pytest.mark.parametrize(
    ("encoding", "body", "code", "text"),
    [
        (b"snappy", b"x", INTERNAL, "compressed response with an unsupported encoding (snappy)"),
        (None, b"x", INTERNAL, "compressed response with an unsupported encoding (none declared)"),
        (b"gzip", b"not gzip at all", INTERNAL, "undecodable gzip response"),
        (
            b"gzip",
            gzip.compress(bytes(100_000)),
            RESOURCE_EXHAUSTED,
            "decompressed response larger",
        ),
    ],
)
async def test_bad_compressed_responses(
    h2servers: StartServer,
    channels: MakeChannel,
    encoding: bytes | None,
    body: bytes,
    code: int,
    text: str,
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        extra = [] if encoding is None else [(b"grpc-encoding", encoding)]
        req.send_headers([*GRPC_OK, *extra])
        req.send_now(grpc_frame(body, compressed=True))
        req.send_trailers(0)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target, max_message=50_000).unary(PATH, b"", timeout=1.0))
    assert err.code == code
    assert err.message.startswith(text)
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL


async def test_truncated_compressed_message_is_an_error(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    payload = os.urandom(1000)

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"grpc-encoding", b"gzip")])
        req.send_now(grpc_frame(gzip.compress(payload)[:600], compressed=True))
        req.send_trailers(0)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"", timeout=1.0))
    assert err.code == INTERNAL


# -- 15. pure functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "wire"),
    [
        (0.0000001, b"1u"),
        (0.000001, b"1u"),
        (0.0000015, b"2u"),
        (0.0, b"1u"),
        (-1.0, b"1u"),
        (0.5, b"500000u"),
        (99.999999, b"99999999u"),
        (100.0, b"100000m"),
        (200, b"200000m"),
        (99_999.999, b"99999999m"),
        (100_000.0, b"100000S"),
        (1e9, b"16666667M"),
        (1e12, b"99999999H"),
    ],
)
def test_encode_timeout(seconds: float, wire: bytes) -> None:
    assert grpcwire.encode_timeout(seconds) == wire


@pytest.mark.parametrize(
    "seconds", [1e-7, 3e-7, 0.001, 0.0123456, 0.3, 1.0, 7.77, 123.456789, 3600.5, 86_400 * 365, 1e9]
)
def test_encode_timeout_never_rounds_down(seconds: float) -> None:
    value = grpcwire.encode_timeout(seconds)
    assert re.fullmatch(rb"[1-9]\d{0,7}[HMSmu]", value), value
    assert parse_grpc_timeout(value) >= seconds
    assert parse_grpc_timeout(value) <= max(seconds * 1.01, seconds + 2e-6)


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("localhost:50051", ("localhost", 50051, None)),
        ("127.0.0.1:1", ("127.0.0.1", 1, None)),
        ("[::1]:50051", ("::1", 50051, None)),
        ("dns:///backend.internal:443", ("backend.internal", 443, None)),
        ("dns:h:1", ("h", 1, None)),
        ("ipv4:10.0.0.1:65535", ("10.0.0.1", 65535, None)),
        ("ipv6:[fe80::1]:80", ("fe80::1", 80, None)),
        (" host:80 ", ("host", 80, None)),
        ("unix:/tmp/s", ("", 0, "/tmp/s")),
        ("unix:///tmp/s", ("", 0, "/tmp/s")),
        ("unix:relative.sock", ("", 0, "relative.sock")),
    ],
)
def test_parse_target(target: str, parsed: tuple[str, int, str | None]) -> None:
    assert grpcwire.parse_target(target) == parsed


@pytest.mark.parametrize(
    "target",
    [
        "",
        "host",
        "host:",
        ":80",
        "host:0",
        "host:65536",
        "host:http",
        "host:-1",
        "unix:",
        "dns:///",
        "[::1]",
    ],
)
def test_parse_target_rejects(target: str) -> None:
    with pytest.raises(ValueError):
        grpcwire.parse_target(target)


@pytest.mark.parametrize(
    ("wire", "raw"),
    [
        (b"AAEC/w==", b"\x00\x01\x02\xff"),
        (b"AAEC/w", b"\x00\x01\x02\xff"),
        (b"AP4=", b"\x00\xfe"),
        (b"AP4", b"\x00\xfe"),
        (b"AAEC", b"\x00\x01\x02"),
        (b"", b""),
    ],
)
def test_decode_binary(wire: bytes, raw: bytes) -> None:
    assert grpcwire.decode_binary(wire) == raw


def test_encode_metadata() -> None:
    assert grpcwire.encode_metadata([("X-Key", "v"), ("trace-bin", b"\x00\xff"), ("k", "")]) == [
        (b"x-key", b"v"),
        (b"trace-bin", b"AP8="),
        (b"k", b""),
    ]
    with pytest.raises(ValueError, match="-bin"):
        grpcwire.encode_metadata([("x-key", b"\x00")])
    with pytest.raises(ValueError):
        grpcwire.encode_metadata([("x-key", "café")])


def test_rpc_error_details_bin_and_str() -> None:
    err = RpcError(5, "gone", trailing=[(b"grpc-status-details-bin", b"AP8")])
    assert err.details_bin() == b"\x00\xff"
    assert str(err) == "gRPC status 5: gone"
    assert RpcError(5, "gone").details_bin() is None
    assert RpcError(5, "gone", trailing=[(b"grpc-status-details-bin", b"A")]).details_bin() is None
