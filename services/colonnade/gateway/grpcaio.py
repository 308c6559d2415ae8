"""grpc.aio behind the gateway's client interface (rpc.Channel): the operator's escape hatch.

`COLONNADE_GATEWAY_GRPC_CLIENT=grpcio` (or `--grpc-client grpcio`) makes the gateway call its
backends through grpc.aio, the reference implementation, instead of its own HTTP/2 client,
without a release. It costs CPU (see the gateway README's bench table) and keeps what the
gateway relies on:

- deadlines: `timeout=` sends `grpc-timeout` and fails the call DEADLINE_EXCEEDED locally;
- metadata in: wire form, `-bin` values decoded to bytes (grpc re-encodes them);
- metadata out: initial and trailing metadata back in wire form, `-bin` values base64;
- status details: `grpc-status-details-bin` stays in the trailing metadata, on the RpcError;
- streaming: messages read one by one; an error after some messages raises from `read()`;
  client and bidirectional streams are `stream_stream` calls written with `write()`;
- cancellation: `cancel()`, or cancelling the awaiting task, resets the stream (CANCEL);
- `--channels-per-backend` channels per address, each with its own connection
  (`grpc.use_local_subchannel_pool`), used round-robin;
- the message size limit, and gRPC's reconnect back-off capped at 10 s as the own client does.

What grpc.aio does its own way (tests/gateway/test_grpcaio.py pins each):

- the HTTP/2 layer is grpc core's: header order on the wire, HPACK indexing, the request's
  `user-agent` (`colonnade-gateway grpc-python-asyncio/<version> grpc-c/<version> ...`)
  are not the gateway's to choose;
- response metadata: core drops the headers it consumes itself (`content-type`,
  `grpc-encoding`, `grpc-accept-encoding`, ...) as the own client does, but a trailers-only
  response's metadata arrive as trailing metadata only, where the own client reports them as
  both (so an error answered trailers-only carries no `Grpc-Metadata-*` headers here);
- transport failures (unreachable backend, a non-gRPC answer) have the same codes with core's
  wording in the message;
- dead peers are found by gRPC's keepalive settings (off by default), not TCP keepalive.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

import grpc

from colonnade.gateway.errors import RpcError
from colonnade.gateway.grpcwire.target import parse_target
from colonnade.gateway.metadata import Metadata, decode_binary
from colonnade.gateway.rpc import UnaryResponse
from colonnade.gateway.status import Code

_EOF: Any = grpc.aio.EOF


def to_aio_metadata(metadata: Sequence[tuple[bytes, bytes]]) -> tuple[tuple[str, str | bytes], ...]:
    """Wire-form metadata as grpc.aio takes it: str keys, bytes for `-bin` values."""
    return tuple(
        (k.decode("ascii"), decode_binary(v) if k.endswith(b"-bin") else v.decode("ascii"))
        for k, v in metadata
    )


def from_aio_metadata(metadata: Any) -> Metadata:
    """grpc.aio metadata (str keys, bytes `-bin` values) in wire form."""
    if not metadata:
        return []
    out: Metadata = []
    for key, value in metadata:
        k = key.encode("ascii")
        if isinstance(value, bytes):
            out.append((k, base64.b64encode(value)))
        else:
            out.append((k, value.encode("latin-1")))
    return out


def _rpc_error(exc: grpc.aio.AioRpcError) -> RpcError:
    return RpcError(
        exc.code().value[0],
        exc.details() or "",
        from_aio_metadata(exc.initial_metadata()),
        from_aio_metadata(exc.trailing_metadata()),
    )


class AioStreamCall:
    """A server-streaming call on grpc.aio (rpc.StreamCall)."""

    def __init__(self, call: Any) -> None:
        self._call = call
        self._initial: Metadata | None = None
        self._trailing: Metadata = []

    async def read(self) -> bytes | None:
        """The next response message, or None after the last one."""
        try:
            message = await self._call.read()
            if self._initial is None:
                self._initial = from_aio_metadata(await self._call.initial_metadata())
            if message is _EOF:
                self._trailing = from_aio_metadata(await self._call.trailing_metadata())
                return None
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None
        except asyncio.CancelledError:
            # grpc.aio raises CancelledError from read() on a call cancelled by cancel() (the
            # own client ends it CANCELLED): only the awaiting task's own cancellation goes on.
            task = asyncio.current_task()
            if self._call.cancelled() and (task is None or not task.cancelling()):
                raise RpcError(Code.CANCELLED, "Cancelled") from None
            raise
        return message  # type: ignore[no-any-return]

    @property
    def initial_metadata(self) -> Metadata:
        """The response headers' metadata (empty before the first read)."""
        return self._initial or []

    @property
    def trailing_metadata(self) -> Metadata:
        """The trailers' metadata (once read() returned None)."""
        return self._trailing

    def cancel(self) -> None:
        """Cancels the call (RST_STREAM CANCEL)."""
        self._call.cancel()


class AioDuplexCall(AioStreamCall):
    """A client- or bidirectional-streaming call on grpc.aio (rpc.DuplexCall)."""

    async def write(self, message: bytes) -> bool:
        """Sends one request message; False when the call already ended."""
        try:
            await self._call.write(message)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError):
            return False  # the call is over: read() raises its status
        return True

    async def done_writing(self) -> None:
        """Ends the request stream."""
        # When the call is already over, read() raises its status.
        with contextlib.suppress(
            grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError
        ):
            await self._call.done_writing()


class AioChannel:
    """`size` grpc.aio channels to one address, each with its own connection, round-robin."""

    def __init__(
        self,
        target: str,
        *,
        size: int = 1,
        max_message: int = 4 * 1024 * 1024,
        user_agent: str = "colonnade-gateway",
    ) -> None:
        parse_target(target)  # the same targets as the own client, checked the same way
        self.target = target
        self.size = max(1, size)
        self.options = [
            ("grpc.max_receive_message_length", max_message),
            ("grpc.max_send_message_length", -1),
            ("grpc.primary_user_agent", user_agent),
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.initial_reconnect_backoff_ms", 1000),
            ("grpc.max_reconnect_backoff_ms", 10_000),
        ]
        self._channels: list[grpc.aio.Channel] = []
        self._unary: list[dict[str, Any]] = []
        self._stream: list[dict[str, Any]] = []
        self._duplex: list[dict[str, Any]] = []
        self._rr = itertools.cycle(range(self.size))
        self.closed = False

    def _open(self) -> None:
        # Created on first use, inside the serving event loop that grpc.aio binds them to.
        for _ in range(self.size):
            self._channels.append(grpc.aio.insecure_channel(self.target, options=self.options))
            self._unary.append({})
            self._stream.append({})
            self._duplex.append({})

    def _pick(self) -> int:
        if not self._channels:
            if self.closed:
                raise RpcError(Code.UNAVAILABLE, f"channel to {self.target} is closed")
            self._open()
        return next(self._rr)

    async def unary(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, sent as grpc-timeout
    ) -> UnaryResponse:
        """Calls a unary method; raises RpcError unless the status is OK."""
        i = self._pick()
        method = self._unary[i].get(path)
        if method is None:
            method = self._unary[i][path] = self._channels[i].unary_unary(path)
        call = method(request, metadata=to_aio_metadata(metadata), timeout=timeout)
        try:
            message = await call
        except grpc.aio.AioRpcError as exc:
            raise _rpc_error(exc) from None
        return UnaryResponse(
            message,
            from_aio_metadata(await call.initial_metadata()),
            from_aio_metadata(await call.trailing_metadata()),
        )

    def stream(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> AioStreamCall:
        """A server-streaming call."""
        i = self._pick()
        method = self._stream[i].get(path)
        if method is None:
            method = self._stream[i][path] = self._channels[i].unary_stream(path)
        return AioStreamCall(method(request, metadata=to_aio_metadata(metadata), timeout=timeout))

    def duplex(
        self,
        path: str,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> AioDuplexCall:
        """A client- or bidirectional-streaming call (stream_stream: client streaming is a
        stream whose single response is read like any other)."""
        i = self._pick()
        method = self._duplex[i].get(path)
        if method is None:
            method = self._duplex[i][path] = self._channels[i].stream_stream(path)
        return AioDuplexCall(method(metadata=to_aio_metadata(metadata), timeout=timeout))

    def connect(self) -> None:
        """Starts connecting every channel now, so the first calls find them warm."""
        if not self._channels and not self.closed:
            self._open()
        for channel in self._channels:
            channel.get_state(try_to_connect=True)

    async def close(self) -> None:
        """Closes every channel; calls still running fail CANCELLED."""
        self.closed = True
        channels, self._channels = self._channels, []
        for channel in channels:
            await channel.close()
