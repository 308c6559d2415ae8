"""One client-side HTTP/2 connection to a gRPC server, as an asyncio protocol.

It sends the preface and SETTINGS, opens one stream per call (HEADERS, then DATA as the
windows allow), parses every frame the server sends in `data_received`, keeps flow control
both ways, answers PINGs, follows SETTINGS changes and `MAX_CONCURRENT_STREAMS`, honours
GOAWAY, and hands each stream's frames to its `Stream` (stream.py), which knows what they mean
for the gRPC call. A protocol error from the server closes the connection with a GOAWAY
naming it; every call still open on it fails UNAVAILABLE.

Why one module of ~500 lines: an HTTP/2 connection is one piece of state (windows, settings,
open streams, the HPACK decoder, the pending header block) that every frame handler reads and
changes; split across modules, the handlers would only pass it around. What does not need that
state lives next door: frame building (frames.py), header blocks (hpack_fast.py) and what a
stream's frames mean for its call (stream.py).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections import deque
from collections.abc import Sequence

import hpack

from colonnade.gateway.errors import ProtocolError, RpcError, TransportError
from colonnade.gateway.grpcwire import hpack_fast
from colonnade.gateway.grpcwire.frames import (
    ACK,
    CANCEL,
    COMPRESSION_ERROR,
    CONTINUATION,
    DATA,
    DEFAULT_MAX_FRAME,
    DEFAULT_WINDOW,
    END_HEADERS,
    END_STREAM,
    ENHANCE_YOUR_CALM,
    FLOW_CONTROL_ERROR,
    FRAME_SIZE_ERROR,
    GOAWAY,
    HEADERS,
    MAX_STREAM_ID,
    MAX_WINDOW,
    NO_ERROR,
    PADDED,
    PING,
    PREFACE,
    PRIORITY_FLAG,
    PROTOCOL_ERROR,
    PUSH_PROMISE,
    RST_STREAM,
    SETTINGS,
    SETTINGS_ENABLE_PUSH,
    SETTINGS_INITIAL_WINDOW_SIZE,
    SETTINGS_MAX_CONCURRENT_STREAMS,
    SETTINGS_MAX_FRAME_SIZE,
    SETTINGS_MAX_HEADER_LIST_SIZE,
    U32,
    WINDOW_UPDATE,
    frame,
    goaway_payload,
    header_frames,
    iter_settings,
    settings_payload,
    unpad,
)
from colonnade.gateway.grpcwire.hpack_fast import MAX_HEADER_LIST, RequestHeaders
from colonnade.gateway.grpcwire.stream import Stream, reset_by_server
from colonnade.gateway.status import Code

log = logging.getLogger("colonnade.gateway.grpc")

# What this client accepts: frames up to 16 KiB (the default), a window of 1 MiB per stream
# and 16 MiB for the connection, header lists up to 256 KiB.
LOCAL_MAX_FRAME = DEFAULT_MAX_FRAME
STREAM_WINDOW = 1 << 20
CONNECTION_WINDOW = 1 << 24
_LOCAL_SETTINGS = settings_payload(
    (SETTINGS_ENABLE_PUSH, 0),
    (SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
    (SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST),
)


class Connection(asyncio.Protocol):
    """One HTTP/2 connection to a gRPC server, client side."""

    def __init__(self, authority: bytes, max_message: int, user_agent: bytes) -> None:
        self.authority = authority
        self.max_message = max_message
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = self.loop.create_future()
        self.streams: dict[int, Stream] = {}
        self.next_id = 1
        self.closed = False
        self.draining = False  # GOAWAY received or stream ids used up: no new streams
        self.close_reason = ""
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self.peer_max_streams = 2**31
        self.send_window = DEFAULT_WINDOW
        self.conn_unacked = 0
        self.window_waiters: list[asyncio.Future[None]] = []
        self.slot_waiters: deque[asyncio.Future[None]] = deque()
        self.senders: set[asyncio.Task[None]] = set()
        self.decoder = hpack.Decoder(max_header_list_size=MAX_HEADER_LIST)
        self.decoder.max_allowed_table_size = 4096
        self.pending_block: bytearray | None = None  # a header block awaiting CONTINUATION
        self.pending_stream = 0
        self.pending_end = False
        self.buf = b""
        self.request_headers = RequestHeaders(authority, user_agent)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if hasattr(socket, "TCP_KEEPIDLE"):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)
            except OSError:  # pragma: no cover - platform without these options
                pass
        transport.write(  # type: ignore[attr-defined]
            PREFACE
            + frame(SETTINGS, 0, 0, _LOCAL_SETTINGS)
            + frame(WINDOW_UPDATE, 0, 0, U32.pack(CONNECTION_WINDOW - DEFAULT_WINDOW))
        )

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.close_reason or (
            f"connection to {self.authority.decode()} lost: {exc}"
            if exc
            else f"connection to {self.authority.decode()} closed by the server"
        )
        self._shut(reason)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos, end = 0, len(buf)
        try:
            while end - pos >= 9:
                length = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
                if length > LOCAL_MAX_FRAME:
                    raise ProtocolError(FRAME_SIZE_ERROR, f"a frame of {length} bytes")
                if end - pos - 9 < length:
                    break
                kind, flags = buf[pos + 3], buf[pos + 4]
                if kind != SETTINGS and not self.ready.done():
                    raise ProtocolError(PROTOCOL_ERROR, "not an HTTP/2 server (no SETTINGS)")
                sid = U32.unpack_from(buf, pos + 5)[0] & 0x7FFFFFFF
                payload = buf[pos + 9 : pos + 9 + length]
                pos += 9 + length
                if self.pending_block is not None and kind != CONTINUATION:
                    raise ProtocolError(PROTOCOL_ERROR, "a header block was interrupted")
                if kind == DATA:
                    self._on_data(sid, flags, payload)
                elif kind == HEADERS:
                    self._on_headers(sid, flags, payload)
                elif kind == CONTINUATION:
                    self._on_continuation(sid, flags, payload)
                elif kind == RST_STREAM:
                    self._on_rst(sid, payload)
                elif kind == SETTINGS:
                    self._on_settings(sid, flags, payload)
                elif kind == WINDOW_UPDATE:
                    self._on_window_update(sid, payload)
                elif kind == PING:
                    if sid or length != 8:
                        raise ProtocolError(PROTOCOL_ERROR, "a malformed PING")
                    if not flags & ACK:
                        self._write(frame(PING, ACK, 0, payload))
                elif kind == GOAWAY:
                    self._on_goaway(payload)
                elif kind == PUSH_PROMISE:
                    raise ProtocolError(PROTOCOL_ERROR, "PUSH_PROMISE although push is off")
                # PRIORITY and unknown frame types are ignored (RFC 9113 section 5.5).
        except ProtocolError as exc:
            self.buf = b""
            self._fail_connection(exc.h2_code, str(exc))
            return
        self.buf = buf[pos:] if pos < end else b""
        if self.conn_unacked >= CONNECTION_WINDOW // 2 and self.transport is not None:
            self._write(frame(WINDOW_UPDATE, 0, 0, U32.pack(self.conn_unacked)))
            self.conn_unacked = 0

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost fails what is pending

    # -- frames ------------------------------------------------------------------------

    def _on_data(self, sid: int, flags: int, payload: bytes) -> None:
        if sid == 0:
            raise ProtocolError(PROTOCOL_ERROR, "DATA on stream 0")
        flow = len(payload)  # padding included (RFC 9113 section 6.1)
        self.conn_unacked += flow  # the connection window is credited on receipt
        if flags & PADDED:
            payload = unpad(payload)
        st = self.streams.get(sid)
        if st is None:
            return  # a stream we already reset or finished
        ended = st.on_data(payload)
        if ended is not None:
            error, reset = ended  # unpacked: a NamedTuple's field access is slower
            self._end_stream(st, error, reset)
            return
        if flow:
            st.unacked += flow
            if not flags & END_STREAM:
                self.credit(st)
        if flags & END_STREAM:
            error = RpcError(Code.INTERNAL, "the server ended the call without a status")
            self._end_stream(st, error)

    def _on_headers(self, sid: int, flags: int, payload: bytes) -> None:
        if sid == 0:
            raise ProtocolError(PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & PADDED:
            payload = unpad(payload)
        if flags & PRIORITY_FLAG:
            payload = payload[5:]
        if flags & END_HEADERS:  # _on_header_block, inline: two blocks per call on this path
            headers = self._decode(bytes(payload))  # always: the HPACK table must stay in step
            st = self.streams.get(sid)
            if st is not None:
                ended = st.on_headers(headers, bool(flags & END_STREAM))
                if ended is not None:
                    error, reset = ended
                    self._end_stream(st, error, reset)
        else:
            self.pending_block = bytearray(payload)
            self.pending_stream = sid
            self.pending_end = bool(flags & END_STREAM)

    def _on_continuation(self, sid: int, flags: int, payload: bytes) -> None:
        block = self.pending_block
        if block is None or sid != self.pending_stream:
            raise ProtocolError(PROTOCOL_ERROR, "an unexpected CONTINUATION frame")
        block += payload
        if len(block) > MAX_HEADER_LIST:
            raise ProtocolError(ENHANCE_YOUR_CALM, "a header block over 256 KiB")
        if flags & END_HEADERS:
            self.pending_block = None
            self._on_header_block(sid, bytes(block), self.pending_end)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        headers = hpack_fast.read_only_decode(block, self.decoder.header_table)
        if headers is not None:
            return headers
        # The block changes the HPACK table (or is malformed): the library decodes it.
        try:
            decoded = self.decoder.decode(block, raw=True)
        except (hpack.HPACKError, IndexError, ValueError) as exc:
            raise ProtocolError(COMPRESSION_ERROR, f"undecodable headers: {exc}") from None
        return [(bytes(k), bytes(v)) for k, v in decoded]

    def _on_header_block(self, sid: int, block: bytes, end_stream: bool) -> None:
        headers = self._decode(block)  # always decoded: the HPACK table must stay in step
        st = self.streams.get(sid)
        if st is not None:
            ended = st.on_headers(headers, end_stream)
            if ended is not None:
                error, reset = ended
                self._end_stream(st, error, reset)

    def _on_rst(self, sid: int, payload: bytes) -> None:
        if sid == 0 or len(payload) != 4:
            raise ProtocolError(PROTOCOL_ERROR, "a malformed RST_STREAM")
        st = self.streams.get(sid)
        if st is None:
            return
        st.reset = True  # closed by the server: never answer a RST_STREAM with one
        self._end_stream(st, reset_by_server(U32.unpack(payload)[0], st.initial))

    def _on_settings(self, sid: int, flags: int, payload: bytes) -> None:
        if sid:
            raise ProtocolError(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            return
        for ident, value in iter_settings(payload):
            if ident == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ProtocolError(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE over 2^31-1")
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for st in self.streams.values():
                    st.send_window += delta
            elif ident == SETTINGS_MAX_FRAME_SIZE:
                if not 16_384 <= value <= 16_777_215:
                    raise ProtocolError(PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range")
                self.peer_max_frame = value
            elif ident == SETTINGS_MAX_CONCURRENT_STREAMS:
                self.peer_max_streams = value
            # HEADER_TABLE_SIZE: our encoder never indexes; others do not concern a client.
        self._write(frame(SETTINGS, ACK, 0))
        self._wake_windows()
        self._wake_slots()
        if not self.ready.done():
            self.ready.set_result(None)

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise ProtocolError(FRAME_SIZE_ERROR, "a WINDOW_UPDATE of a bad length")
        inc = U32.unpack(payload)[0] & 0x7FFFFFFF
        if sid == 0:
            if inc == 0:
                raise ProtocolError(PROTOCOL_ERROR, "a zero WINDOW_UPDATE")
            self.send_window += inc
            if self.send_window > MAX_WINDOW:
                raise ProtocolError(FLOW_CONTROL_ERROR, "connection window over 2^31-1")
        else:
            st = self.streams.get(sid)
            if st is None:
                return
            if inc == 0:  # a stream error (RFC 9113 section 6.9)
                error = RpcError(Code.INTERNAL, "a zero WINDOW_UPDATE", st.initial)
                self._end_stream(st, error, PROTOCOL_ERROR)
                return
            st.send_window += inc
        self._wake_windows()

    def _on_goaway(self, payload: bytes) -> None:
        if len(payload) < 8:
            raise ProtocolError(FRAME_SIZE_ERROR, "a GOAWAY shorter than 8 bytes")
        last, err = struct.unpack_from(">II", payload)
        last &= 0x7FFFFFFF
        debug = payload[8:].decode("utf-8", "replace")
        self.draining = True
        if err != NO_ERROR:
            log.warning(
                "backend sent GOAWAY",
                extra={"backend": self.authority.decode(), "error": err, "debug": debug},
            )
        for st in [s for s in self.streams.values() if s.id > last]:
            self._end_stream(
                st,
                RpcError(Code.UNAVAILABLE, "the server is going away", transparent_retry=True),
            )
        if not self.streams:
            self.close()
        self._wake_slots()

    # -- streams -------------------------------------------------------------------------

    def _end_stream(self, st: Stream, error: RpcError | None, reset: int | None = None) -> None:
        """Marks `st` finished (OK when `error` is None), wakes its caller, and resets the
        stream with the error code `reset` when given."""
        if st.done:
            return
        st.done = True
        st.error = error
        if st.timer is not None:
            st.timer.cancel()
            st.timer = None
        self.streams.pop(st.id, None)
        st.wake()
        self._wake_windows()  # a sender blocked on this stream's window must stop waiting
        self._wake_slots()
        if self.draining and not self.streams:
            self.close()
        if reset is None and st.sending:
            # The server answered before the request stream ended: close our half too, so the
            # stream does not stay open on the server (RFC 9113 section 8.1: NO_ERROR).
            reset = NO_ERROR
        if reset is not None:
            self._reset(st, reset)

    def _reset(self, st: Stream, code: int) -> None:
        if not st.reset:
            st.reset = True
            self._write(frame(RST_STREAM, 0, st.id, U32.pack(code)))

    def _expire(self, st: Stream) -> None:
        st.timer = None
        if not st.done:
            error = RpcError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded", st.initial)
            self._end_stream(st, error, CANCEL)

    def usable(self) -> bool:
        """Open, not going away, with stream ids left."""
        return not self.closed and not self.draining and self.ready.done()

    def open_stream(
        self,
        path: str,
        request: bytes | None,
        metadata: Sequence[tuple[bytes, bytes]],
        timeout: float | None,
        streaming: bool,
    ) -> Stream:
        """Sends HEADERS (and DATA when the window allows) for a new call; with `request`
        None only the HEADERS, for a call whose messages follow (`send_message`)."""
        sid = self.next_id
        self.next_id += 2
        if self.next_id > MAX_STREAM_ID:
            self.draining = True  # the next call goes to a new connection
        st = Stream(self, sid, streaming)
        self.streams[sid] = st
        if timeout is not None:
            st.timer = self.loop.call_later(timeout, self._expire, st)
        block = self.request_headers.block(path, timeout, metadata)
        if request is None:  # a client stream: its messages and END_STREAM come later
            st.sending = True
            self._write(header_frames(sid, block, self.peer_max_frame))
            return st
        body = b"\x00" + U32.pack(len(request)) + request
        n = len(body)
        headers = header_frames(sid, block, self.peer_max_frame)
        if n <= self.send_window and n <= st.send_window and n <= self.peer_max_frame:
            self.send_window -= n
            st.send_window -= n
            self._write(headers + frame(DATA, END_STREAM, sid, body))
        else:
            self._write(headers)
            task = self.loop.create_task(self._send_body(st, body))
            self.senders.add(task)  # a strong reference until it is done
            task.add_done_callback(self.senders.discard)
        return st

    async def send_message(self, st: Stream, message: bytes) -> bool:
        """Sends one message of a client stream as the windows allow; False when the call
        ended first (its outcome is then on the stream)."""
        if st.done or self.closed:
            return False
        body = b"\x00" + U32.pack(len(message)) + message
        n = len(body)
        if n <= self.send_window and n <= st.send_window and n <= self.peer_max_frame:
            self.send_window -= n
            st.send_window -= n
            self._write(frame(DATA, 0, st.id, body))
            return True
        await self._send_body(st, body, end=False)
        return not st.done

    def close_send(self, st: Stream) -> None:
        """Half-closes a client stream: an empty DATA frame with END_STREAM."""
        if not st.done and not self.closed:
            st.sending = False
            self._write(frame(DATA, END_STREAM, st.id, b""))

    async def _send_body(self, st: Stream, body: bytes, end: bool = True) -> None:
        """Sends a request body larger than the windows allow at once (with END_STREAM on
        its last frame unless `end` is False: more messages follow)."""
        view = memoryview(body)
        pos = 0
        while pos < len(body) and not st.done and not self.closed:
            n = min(len(body) - pos, self.send_window, st.send_window, self.peer_max_frame)
            if n <= 0:
                w = self.loop.create_future()
                self.window_waiters.append(w)
                await w
                continue
            self.send_window -= n
            st.send_window -= n
            last = end and pos + n == len(body)
            self._write(frame(DATA, END_STREAM if last else 0, st.id, bytes(view[pos : pos + n])))
            pos += n
        if pos < len(body):
            self._reset(st, CANCEL)  # the call ended first: close our half of the stream too

    def _wake_windows(self) -> None:
        if self.window_waiters:
            waiters, self.window_waiters = self.window_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _wake_slots(self) -> None:
        while self.slot_waiters and (
            len(self.streams) < self.peer_max_streams or self.closed or self.draining
        ):
            w = self.slot_waiters.popleft()
            if not w.done():
                w.set_result(None)
                if not (self.closed or self.draining):
                    break

    async def wait_slot(self) -> None:
        """Waits until the server's MAX_CONCURRENT_STREAMS allows one more call."""
        while len(self.streams) >= self.peer_max_streams and self.usable():
            w = self.loop.create_future()
            self.slot_waiters.append(w)
            try:
                await w
            except asyncio.CancelledError:
                if w.done() and not w.cancelled():
                    self._wake_slots()  # woken, then cancelled: pass the free slot on
                raise

    def credit(self, st: Stream) -> None:
        """Returns the stream's received bytes to the server's window, unless complete messages
        still wait for a streaming reader: a slow reader holds back its own stream only (and a
        message larger than the window still arrives, as its bytes are credited while partial).
        """
        if st.unacked >= STREAM_WINDOW // 2 and not st.messages and not st.done and not self.closed:
            self._write(frame(WINDOW_UPDATE, 0, st.id, U32.pack(st.unacked)))
            st.unacked = 0

    def cancel(self, st: Stream, message: str = "Cancelled") -> None:
        """Resets the stream with CANCEL (the caller went away)."""
        if not st.done:
            self._end_stream(st, RpcError(Code.CANCELLED, message, st.initial), CANCEL)

    # -- connection ----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not self.closed:
            t.write(data)

    def _fail_connection(self, code: int, reason: str) -> None:
        log.warning(
            "HTTP/2 protocol error from backend",
            extra={"backend": self.authority.decode(), "reason": reason},
        )
        last = max(0, self.next_id - 2)
        self._write(frame(GOAWAY, 0, 0, goaway_payload(last, code, reason.encode()[:200])))
        self.close_reason = f"HTTP/2 protocol error from {self.authority.decode()}: {reason}"
        self.close()

    def close(self) -> None:
        """Closes the connection (pending calls fail UNAVAILABLE)."""
        self.draining = True  # no new calls while connection_lost is on its way
        t, self.transport = self.transport, None  # and no more writes
        if t is not None and not t.is_closing():
            t.close()
        if not self.close_reason:
            self.close_reason = f"connection to {self.authority.decode()} closed"

    def goaway(self) -> None:
        """Tells the server no more calls come on this connection, and closes when idle."""
        self.draining = True
        self._write(frame(GOAWAY, 0, 0, goaway_payload(0, NO_ERROR)))
        if not self.streams:
            self.close()

    def _shut(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.transport = None
        if not self.ready.done():
            self.ready.set_exception(TransportError(reason))
            self.ready.exception()  # retrieved: the connector reports it
        for st in list(self.streams.values()):
            self._end_stream(st, RpcError(Code.UNAVAILABLE, reason, st.initial))
        self._wake_windows()
        self._wake_slots()
