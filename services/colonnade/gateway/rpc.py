"""What the gateway needs from a gRPC client, and the setting that picks one.

The gateway calls backends with bytes in and bytes out: it serializes requests itself and
parses responses with its own descriptor pool's classes. A client is a `Channel` to one
address: `unary` returns the response message and both sets of metadata; `stream` returns a
`StreamCall` read message by message; `duplex` a `DuplexCall` written and read as it goes
(client and bidirectional streaming); a call that does not end OK raises `RpcError`
(errors.py). Metadata is wire form both ways (metadata.py).

Two clients implement it:

* `native` (default): the gateway's own HTTP/2 client, `colonnade.gateway.grpcwire`, written
  for CPU per call (see the gateway README for the figures);
* `grpcio`: grpc.aio, `colonnade.gateway.grpcaio`, the reference implementation, for an
  operator who suspects the own client (`COLONNADE_GATEWAY_GRPC_CLIENT=grpcio`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from colonnade.gateway.errors import ConfigError
from colonnade.gateway.metadata import Metadata

NATIVE = "native"
GRPCIO = "grpcio"
CLIENTS = (NATIVE, GRPCIO)


class UnaryResponse:
    """A unary call's result: the response message bytes and the metadata."""

    __slots__ = ("initial", "message", "trailing")

    def __init__(self, message: bytes, initial: Metadata, trailing: Metadata) -> None:
        self.message = message
        self.initial = initial
        self.trailing = trailing


class StreamCall(Protocol):
    """A server-streaming call: `await read()` until it returns None; errors raise RpcError."""

    async def read(self) -> bytes | None:
        """The next response message, or None after the last one."""
        ...

    @property
    def initial_metadata(self) -> Metadata:
        """The response headers' metadata (empty before the first read)."""
        ...

    @property
    def trailing_metadata(self) -> Metadata:
        """The trailers' metadata (once read() returned None)."""
        ...

    def cancel(self) -> None:
        """Cancels the call (the HTTP client went away)."""
        ...


class DuplexCall(StreamCall, Protocol):
    """A client- or bidirectional-streaming call: `write` request messages and then
    `done_writing`, while `read` returns response messages until None; errors raise RpcError
    from `read` (a `write` after the call ended returns False)."""

    async def write(self, message: bytes) -> bool:
        """Sends one request message; False when the call already ended."""
        ...

    async def done_writing(self) -> None:
        """Ends the request stream."""
        ...


class Channel(Protocol):
    """Calls to one backend address, over however many connections the client keeps."""

    target: str

    async def unary(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, sent as grpc-timeout
    ) -> UnaryResponse:
        """Calls a unary method; raises RpcError unless the status is OK."""
        ...

    def stream(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> StreamCall:
        """A server-streaming call (opened by its first read)."""
        ...

    def duplex(
        self,
        path: str,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> DuplexCall:
        """A client- or bidirectional-streaming call."""
        ...

    def connect(self) -> None:
        """Starts connecting now, so the first calls find the connections warm."""
        ...

    async def close(self) -> None:
        """Closes every connection; calls still running fail."""
        ...


def open_channel(client: str, target: str, *, size: int, max_message: int) -> Channel:
    """A channel of the chosen client (`native` or `grpcio`) to `target`."""
    if client == NATIVE:
        from colonnade.gateway.grpcwire import Channel as NativeChannel

        return NativeChannel(target, size=size, max_message=max_message)
    if client == GRPCIO:
        from colonnade.gateway.grpcaio import AioChannel

        return AioChannel(target, size=size, max_message=max_message)
    raise ConfigError(f"grpc_client: {client!r} is not one of {', '.join(CLIENTS)}")
