"""Streaming calls of the own client: server streaming read message by message
(rpc.StreamCall), and client or bidirectional streaming written and read as they go
(rpc.DuplexCall)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from colonnade.gateway.grpcwire.stream import Stream
from colonnade.gateway.metadata import Metadata

if TYPE_CHECKING:
    from colonnade.gateway.grpcwire.channel import Channel


class _Call:
    """A streaming call of the own client: its stream, opened by the first read (or write),
    read message by message until None; errors raise RpcError.

    A call the server never saw (GOAWAY above it, REFUSED_STREAM) is retried once on another
    connection, keeping the original deadline, unless its request is a stream (`request` None:
    messages already written cannot be replayed).
    """

    def __init__(
        self,
        channel: Channel,
        path: str,
        request: bytes | None,
        md: Sequence[tuple[bytes, bytes]],
        timeout: float | None,
    ) -> None:
        self._channel = channel
        self._args = (path, request, md)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._stream: Stream | None = None
        self._retried = request is None

    async def _open(self) -> Stream:
        if self._stream is None:
            path, request, md = self._args
            self._stream = await self._channel.start(path, request, md, self._deadline, True)
        return self._stream

    async def read(self) -> bytes | None:
        """The next response message, or None after the last one."""
        st = await self._open()
        while True:
            if st.messages:
                message = st.messages.popleft()
                st.conn.credit(st)
                return message
            if st.done:
                err = st.error
                if err is None:
                    return None
                if err.transparent_retry and not self._retried and st.initial is None:
                    self._retried = True  # the server never saw the call: try once more
                    self._stream = None
                    st = await self._open()
                    continue
                raise err
            await st.wait()

    @property
    def initial_metadata(self) -> Metadata:
        """The response headers' metadata (empty before they arrive)."""
        return (self._stream.initial or []) if self._stream is not None else []

    @property
    def trailing_metadata(self) -> Metadata:
        """The trailers' metadata (once read() returned None)."""
        return self._stream.trailing if self._stream is not None else []

    def cancel(self) -> None:
        """Resets the call (the HTTP client went away, or its request body was malformed)."""
        if self._stream is not None:
            self._stream.conn.cancel(self._stream)


class StreamCall(_Call):
    """A server-streaming call: `await read()` until it returns None (see _Call)."""


class DuplexCall(_Call):
    """A client- or bidirectional-streaming call: `write` messages, `done_writing`, and
    `read` responses until None, in any interleaving; errors raise RpcError.

    The stream opens with the first write or read. Requests wait for HTTP/2 flow control, so
    a backend that reads slowly slows the writer down.
    """

    def __init__(
        self,
        channel: Channel,
        path: str,
        md: Sequence[tuple[bytes, bytes]],
        timeout: float | None,
    ) -> None:
        super().__init__(channel, path, None, md, timeout)

    async def write(self, message: bytes) -> bool:
        """Sends one request message; False when the call already ended (read() tells how)."""
        st = await self._open()
        return await st.conn.send_message(st, message)

    async def done_writing(self) -> None:
        """Ends the request stream (END_STREAM)."""
        st = await self._open()
        st.conn.close_send(st)
