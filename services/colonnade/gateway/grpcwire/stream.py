"""One gRPC call on an HTTP/2 stream: its state, and what the server's frames mean for it.

The connection (connection.py) owns HTTP/2: frames, flow control, settings. A `Stream` owns
gRPC's rules for one response (PROTOCOL-HTTP2.md): response headers or a trailers-only answer,
length-prefixed (possibly compressed) messages, the status in the trailers, and gRPC's mapping
of non-gRPC answers. Its `on_*` methods return None while the call goes on, or an `End`: the
call's outcome and, when the stream must be reset, the RST_STREAM error code to send.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import unquote_to_bytes

from colonnade.gateway.errors import RpcError
from colonnade.gateway.grpcwire.frames import (
    CANCEL,
    ENHANCE_YOUR_CALM,
    INADEQUATE_SECURITY,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    U32,
)
from colonnade.gateway.metadata import Metadata
from colonnade.gateway.status import Code

if TYPE_CHECKING:
    from colonnade.gateway.grpcwire.connection import Connection

# Response headers that are transport, not metadata.
RESERVED = frozenset(
    {b"content-type", b"grpc-status", b"grpc-message", b"grpc-encoding", b"grpc-accept-encoding"}
)
# What a server's RST_STREAM error code means for the call (gRPC PROTOCOL-HTTP2.md).
_RST_TO_CODE = {
    REFUSED_STREAM: Code.UNAVAILABLE,
    CANCEL: Code.CANCELLED,
    ENHANCE_YOUR_CALM: Code.RESOURCE_EXHAUSTED,
    INADEQUATE_SECURITY: Code.PERMISSION_DENIED,
}
# gRPC's http-grpc-status-mapping.md: a response that is not gRPC, by HTTP status.
_HTTP_TO_CODE = {
    400: Code.INTERNAL,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.UNIMPLEMENTED,
    429: Code.UNAVAILABLE,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.UNAVAILABLE,
}
_WBITS = {b"gzip": 31, b"deflate": 15}
_OK = Code.OK  # read once: an enum member lookup costs more than the comparison (Python 3.11)


class End(NamedTuple):
    """How a call ends: its error (None for OK) and the RST_STREAM code to send, if any."""

    error: RpcError | None
    reset: int | None = None


OK = End(None)


def reset_by_server(error_code: int, initial: Metadata | None) -> RpcError:
    """The error of a call whose stream the server reset (REFUSED_STREAM: never seen, so
    safe to retry)."""
    return RpcError(
        _RST_TO_CODE.get(error_code, Code.INTERNAL),
        f"the server reset the stream (HTTP/2 error {error_code:#x})",
        initial,
        transparent_retry=error_code == REFUSED_STREAM,
    )


class Stream:
    """One call's state on a connection."""

    __slots__ = (
        "buffer",
        "conn",
        "done",
        "encoding",
        "error",
        "id",
        "initial",
        "messages",
        "reset",
        "send_window",
        "sending",
        "streaming",
        "timer",
        "trailing",
        "unacked",
        "waiter",
    )

    def __init__(self, conn: Connection, stream_id: int, streaming: bool) -> None:
        self.conn = conn
        self.id = stream_id
        self.streaming = streaming
        self.waiter: asyncio.Future[None] | None = None
        self.buffer = bytearray()
        self.messages: deque[bytes] = deque()
        self.initial: Metadata | None = None  # None until the response headers arrive
        self.trailing: Metadata = []
        self.encoding = b""
        self.done = False
        self.error: RpcError | None = None
        self.reset = False  # a RST_STREAM was sent or received
        self.sending = False  # a client stream whose END_STREAM is not sent yet
        self.send_window = conn.peer_initial_window
        self.unacked = 0  # received bytes not yet credited back to the server
        self.timer: asyncio.TimerHandle | None = None

    async def wait(self) -> None:
        """Until something happens on the stream; a cancelled caller resets it."""
        self.waiter = self.conn.loop.create_future()
        try:
            await self.waiter
        except asyncio.CancelledError:
            self.conn.cancel(self)
            raise

    def wake(self) -> None:
        """Wakes the caller waiting in `wait`."""
        w = self.waiter
        if w is not None:
            self.waiter = None
            if not w.done():
                w.set_result(None)

    # -- what the server's frames mean -----------------------------------------------------

    def on_headers(self, headers: list[tuple[bytes, bytes]], end_stream: bool) -> End | None:
        """A decoded header block: the response headers, or the trailers after them."""
        if self.initial is not None:  # trailers
            if not end_stream:
                return End(
                    RpcError(Code.INTERNAL, "trailers without END_STREAM", self.initial),
                    PROTOCOL_ERROR,
                )
            return self._finish(headers)
        status = b""
        ctype = b""
        for k, v in headers:
            if k == b":status":
                status = v
            elif k == b"content-type":
                ctype = v
            elif k == b"grpc-encoding":
                self.encoding = v
        if status[:1] == b"1" and len(status) == 3:
            return None  # informational, a final response follows
        self.initial = [(k, v) for k, v in headers if k[:1] != b":" and k not in RESERVED]
        if status != b"200" or not ctype.startswith(b"application/grpc"):
            return self._not_grpc(status, ctype, headers)
        if end_stream:  # trailers-only response
            return self._finish(headers)
        if self.streaming:
            self.wake()
        return None

    def on_data(self, payload: bytes) -> End | None:
        """DATA content: complete length-prefixed messages are queued for the caller."""
        if self.initial is None:
            return End(
                RpcError(Code.INTERNAL, "the server sent DATA before its headers"), PROTOCOL_ERROR
            )
        if not payload:
            return None
        buf = self.buffer
        buf += payload
        max_message = self.conn.max_message
        while len(buf) >= 5:
            size = U32.unpack_from(buf, 1)[0]
            if size > max_message:
                error = RpcError(
                    Code.RESOURCE_EXHAUSTED,
                    f"response message larger than the limit ({size} > {max_message})",
                    self.initial,
                )
                return End(error, CANCEL)
            if len(buf) < 5 + size:
                return None
            flag = buf[0]
            message = bytes(buf[5 : 5 + size])
            del buf[: 5 + size]
            if flag & 1:
                try:
                    message = self._decompress(message, max_message)
                except RpcError as exc:
                    return End(exc, CANCEL)
            if not self.streaming and self.messages:
                error = RpcError(Code.INTERNAL, "the server sent two responses to a unary call")
                return End(error, CANCEL)
            self.messages.append(message)
            if self.streaming:
                self.wake()
        return None

    def _decompress(self, message: bytes, max_message: int) -> bytes:
        wbits = _WBITS.get(self.encoding)
        if wbits is None:
            name = self.encoding.decode("latin-1") or "none declared"
            raise RpcError(
                Code.INTERNAL, f"compressed response with an unsupported encoding ({name})"
            )
        d = zlib.decompressobj(wbits)
        try:
            out = d.decompress(message, max_message + 1)
        except zlib.error as exc:
            raise RpcError(
                Code.INTERNAL, f"undecodable {self.encoding.decode()} response: {exc}"
            ) from None
        if len(out) > max_message:
            raise RpcError(Code.RESOURCE_EXHAUSTED, "decompressed response larger than the limit")
        if not d.eof:
            raise RpcError(Code.INTERNAL, f"truncated {self.encoding.decode()} response")
        return out

    def _not_grpc(self, status: bytes, ctype: bytes, headers: list[tuple[bytes, bytes]]) -> End:
        grpc_status = next((v for k, v in headers if k == b"grpc-status"), None)
        if status == b"200" and grpc_status is not None:
            return self._finish(headers)  # a trailers-only response without a content type
        try:
            http = int(status)
        except ValueError:
            http = 0
        code = _HTTP_TO_CODE.get(http, Code.UNKNOWN) if http != 200 else Code.UNKNOWN
        what = f"HTTP status {http}" if http != 200 else f"content type {ctype.decode('latin-1')!r}"
        return End(
            RpcError(code, f"the backend's answer is not gRPC ({what})", self.initial), CANCEL
        )

    def _finish(self, trailers: list[tuple[bytes, bytes]]) -> End:
        """The call's outcome from its trailers (or its trailers-only response)."""
        code_raw = message = None
        for k, v in trailers:
            if k == b"grpc-status":
                code_raw = v
            elif k == b"grpc-message":
                message = v
        trailing = [(k, v) for k, v in trailers if k[:1] != b":" and k not in RESERVED]
        self.trailing = trailing
        try:
            code = int(code_raw) if code_raw is not None else -1
        except ValueError:
            code = -1
        if code < 0:
            return End(
                RpcError(
                    Code.INTERNAL, "the server ended the call without a grpc-status", self.initial
                )
            )
        if code != _OK:
            text = unquote_to_bytes(message).decode("utf-8", "replace") if message else ""
            return End(RpcError(code, text, self.initial, trailing))
        if self.buffer:
            return End(RpcError(Code.INTERNAL, "the call ended inside a message", self.initial))
        if not self.streaming and not self.messages:
            return End(RpcError(Code.INTERNAL, "the server sent no response message"))
        return OK
