"""Client and bidirectional streaming: the HTTP request body as a stream of JSON messages.

grpc-gateway's generated handlers read such a body with Go's `json.Decoder`: one JSON value
after another, separated by any whitespace (newline-delimited or simply concatenated), each
decoded into one whole request message and sent as one gRPC message as soon as it is complete.
Here `JsonValues` cuts the body into values as its chunks arrive, and `RequestPump` writes each
one to the call:

* client streaming: the body is pumped to its end, then the single response is read and
  answered like a unary call's (an error mid-stream gets its mapped HTTP status);
* bidirectional streaming: the pump runs beside the response, which is written as
  newline-delimited `{"result": …}` lines while the request is still arriving; an empty body is
  an empty request stream.

A value that is not a JSON message for the request type ends the call with INVALID_ARGUMENT
(grpc-gateway only stops sending in the bidirectional case; here the client learns why, in the
last line). One value larger than `--max-body-bytes` is refused the same way (413 before the
response starts); the stream as a whole has no limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING

import orjson

from colonnade.gateway.errors import (
    BadRequest,
    ClientDisconnected,
    ContentTooLarge,
    RpcError,
    StatusError,
)
from colonnade.gateway.metadata import Metadata

if TYPE_CHECKING:
    from colonnade.gateway.endpoint import Endpoint
    from colonnade.gateway.exchange import Exchange
    from colonnade.gateway.rpc import DuplexCall

_WS = b" \t\r\n"
_IN_CONTAINER = re.compile(rb'[\[\]{}"]')
_IN_STRING = re.compile(rb'["\\]')
_LITERAL_END = re.compile(rb'[ \t\r\n\[\]{}"]')


class JsonValues:
    """Cuts a stream of bytes into whole JSON values (Go's json.Decoder framing): objects,
    arrays and strings by their brackets and quotes, other literals by the whitespace after
    them. The values are not parsed here, only delimited."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.buf = bytearray()
        self.pos = 0  # scanned up to here
        self.start = -1  # where the current value begins, -1 between values
        self.depth = 0
        self.in_string = False
        self.literal = False

    def feed(self, data: bytes) -> list[bytes]:
        """The values completed by `data`."""
        buf = self.buf
        buf += data
        out: list[bytes] = []
        pos = self.pos
        end = len(buf)
        while pos < end:
            if self.start < 0:
                while pos < end and buf[pos] in _WS:
                    pos += 1
                if pos >= end:
                    break
                self.start = pos
                c = buf[pos]
                if c == 0x7B or c == 0x5B:  # { [
                    self.depth = 1
                    pos += 1
                elif c == 0x22:  # "
                    self.depth = 0
                    self.in_string = True
                    pos += 1
                else:
                    self.literal = True
            if self.literal:
                m = _LITERAL_END.search(buf, pos)
                if m is None:
                    pos = end
                    break
                pos = m.start()
                out.append(bytes(buf[self.start : pos]))
                self.start, self.literal = -1, False
            elif self.in_string:
                m = _IN_STRING.search(buf, pos)
                if m is None:
                    pos = end
                    break
                if buf[m.start()] == 0x5C:  # a backslash escapes the next byte
                    if m.start() + 1 >= end:
                        pos = m.start()  # rescan it with the next chunk
                        break
                    pos = m.start() + 2
                    continue
                pos = m.start() + 1
                self.in_string = False
                if self.depth == 0:
                    out.append(bytes(buf[self.start : pos]))
                    self.start = -1
            else:
                m = _IN_CONTAINER.search(buf, pos)
                if m is None:
                    pos = end
                    break
                c = buf[m.start()]
                pos = m.start() + 1
                if c == 0x22:
                    self.in_string = True
                elif c == 0x7B or c == 0x5B:
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 0:
                        out.append(bytes(buf[self.start : pos]))
                        self.start = -1
        # Drop what was consumed; keep the value in progress.
        keep = self.start if self.start >= 0 else pos
        if keep:
            del buf[:keep]
            pos -= keep
            if self.start >= 0:
                self.start = 0
        self.pos = pos
        if (self.start >= 0 and len(buf) > self.limit) or any(len(v) > self.limit for v in out):
            raise ContentTooLarge(self.limit)
        return out

    def close(self) -> list[bytes]:
        """The last value at the end of the body (a literal needs no delimiter after it)."""
        if self.start < 0:
            return []
        if self.literal:
            value = bytes(self.buf[self.start :])
            self.start, self.literal = -1, False
            return [value]
        raise BadRequest("", "the request body ends inside a JSON value")


class RequestPump:
    """Reads the HTTP body of `ex` as JSON messages and writes each to `call`, then ends the
    request stream. `error` keeps why it stopped early (a malformed message, a value over the
    limit), so the response can say so."""

    def __init__(self, ex: Exchange, ep: Endpoint, call: DuplexCall, limit: int) -> None:
        self.ex = ex
        self.ep = ep
        self.call = call
        self.values = JsonValues(limit)
        self.error: StatusError | None = None
        self.sent = 0

    async def run(self) -> None:
        """Pumps the whole body (raises StatusError for a malformed message, after cancelling
        the call; ClientDisconnected when the client left)."""
        try:
            while True:
                msg = await self.ex.receive()
                if msg["type"] == "http.disconnect":
                    self.call.cancel()
                    raise ClientDisconnected
                chunk = msg.get("body", b"")
                values = self.values.feed(chunk) if chunk else []
                more = msg.get("more_body", False)
                if not more:
                    values += self.values.close()
                for raw in values:
                    if not await self.call.write(self._serialize(raw)):
                        return  # the call ended: its reader learns how
                    self.sent += 1
                if not more:
                    break
        except StatusError as exc:
            self.error = exc
            self.call.cancel()
            raise
        await self.call.done_writing()

    def _serialize(self, raw: bytes) -> bytes:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(
                "", f"request message {self.sent + 1} of the stream is not valid JSON: {exc}"
            ) from None
        message = self.ep.builder.build([], "", body)
        data: bytes = message.SerializeToString()
        return data


class BidiCall:
    """A bidirectional call with its request pump running beside it (rpc.StreamCall, so the
    server-streaming reply can write it): `read` reports a malformed request message as the
    call's error, and the pump stops with the call."""

    def __init__(self, call: DuplexCall, pump: RequestPump) -> None:
        self.call = call
        self.pump = pump
        self.task: asyncio.Task[None] = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        with contextlib.suppress(StatusError, ClientDisconnected):  # kept in pump.error
            await self.pump.run()

    async def read(self) -> bytes | None:
        """The next response message, or None after the last one."""
        try:
            message = await self.call.read()
        except RpcError:
            self._stop()
            error = self.pump.error
            if error is not None:
                raise RpcError(error.code, error.message) from None
            raise
        if message is None:
            self._stop()
        return message

    def _stop(self) -> None:
        if not self.task.done():
            self.task.cancel()

    @property
    def initial_metadata(self) -> Metadata:
        """The response headers' metadata."""
        return self.call.initial_metadata

    @property
    def trailing_metadata(self) -> Metadata:
        """The trailers' metadata (once read() returned None)."""
        return self.call.trailing_metadata

    def cancel(self) -> None:
        """Cancels the call and stops the pump (the HTTP client went away)."""
        self._stop()
        self.call.cancel()


__all__ = ["BidiCall", "JsonValues", "RequestPump"]
