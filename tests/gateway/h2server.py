"""A scripted HTTP/2 gRPC server for client protocol tests, built on the `h2` library.

The tests of the gateway's gRPC clients script what a real gRPC server rarely does, against an
HTTP/2 implementation independent of grpcwire's own frame code: `h2` (python-hyper) used
server side, on a loopback asyncio server. Each test hands `H2Server` a handler that decides,
per request, which HEADERS / DATA / trailers / RST_STREAM / GOAWAY / SETTINGS / PING frames go
back (through `Request`'s methods), and the harness records what the client sent (h2 events,
and every raw frame it read).

The scripted servers validate inbound headers as h2 does (pseudo-headers first, no
connection-specific fields), so every request a client sends is checked for that too.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import pytest
from h2.settings import SettingCodes

from colonnade.gateway import grpcwire
from colonnade.gateway.grpcwire import Channel, RpcError

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


async def echo(req: Request) -> None:
    (message,) = await req.messages()
    req.respond(message)


async def reply_with_metadata(req: Request) -> None:
    """Answers `reply:<request>` with text and binary metadata in the headers and trailers."""
    (message,) = await req.messages()
    req.respond(
        b"reply:" + message,
        initial=[(b"x-initial", b"i1"), (b"initial-bin", b64(b"\x00\xfe", pad=False))],
        trailing=[(b"x-trailing", b"t1"), (b"trailing-bin", b64(b"\xff"))],
    )


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
