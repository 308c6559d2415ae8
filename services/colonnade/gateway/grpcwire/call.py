"""A server-streaming call of the own client, read message by message (rpc.StreamCall)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from colonnade.gateway.grpcwire.stream import Stream
from colonnade.gateway.metadata import Metadata

if TYPE_CHECKING:
    from colonnade.gateway.grpcwire.channel import Channel


class StreamCall:
    """A server-streaming call: `await read()` until it returns None; errors raise RpcError.

    The stream opens on the first read. A call the server never saw (GOAWAY above it,
    REFUSED_STREAM) is retried once on another connection, keeping the original deadline.
    """

    def __init__(
        self,
        channel: Channel,
        path: str,
        request: bytes,
        md: Sequence[tuple[bytes, bytes]],
        timeout: float | None,
    ) -> None:
        self._channel = channel
        self._args = (path, request, md)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._stream: Stream | None = None
        self._retried = False

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
        """The response headers' metadata (empty before the first read)."""
        return (self._stream.initial or []) if self._stream is not None else []

    @property
    def trailing_metadata(self) -> Metadata:
        """The trailers' metadata (once read() returned None)."""
        return self._stream.trailing if self._stream is not None else []

    def cancel(self) -> None:
        """Resets the call (the HTTP client went away)."""
        if self._stream is not None:
            self._stream.conn.cancel(self._stream)
