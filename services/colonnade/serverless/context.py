"""A `grpc.aio.ServicerContext` for calls that never touch the network.

On Lambda the servicers run in the handler's process (no inbound gRPC there), but they and the
runtime's server interceptor are written against `grpc.aio.ServicerContext`. This stand-in
behaves as grpc.aio's own does for everything they use:

- `invocation_metadata()`: the call's metadata as grpc.aio gives it (str keys, bytes values
  for `-bin` keys);
- `time_remaining()`: seconds left before the call's deadline (the gateway's `Grpc-Timeout` or
  default, capped by the Lambda invocation's remaining time), None without one;
- `abort(code, details, trailing_metadata)` and `abort_with_status(status)` record the status
  and raise `grpc.aio.AbortError`, as grpc.aio does; `grpc-status-details-bin` rides in the
  trailing metadata, so rich `google.rpc.Status` details reach the gateway unchanged;
- `set_code` / `set_details` / `set_trailing_metadata` / `send_initial_metadata` and their
  readers; a handler that sets a non-OK code and returns fails the call with that status
  (grpc.aio drops the response the same way).

Streaming requests (`read`) and responses (`write`) are not served in process (see
colonnade.serverless.inprocess), so those raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import grpc

MetadataItems = tuple[tuple[str, str | bytes], ...]


class InProcessContext(grpc.aio.ServicerContext[Any, Any]):
    """The servicer context of one in-process call."""

    def __init__(
        self,
        metadata: MetadataItems,
        deadline: float | None,
        peer: str = "inprocess:lambda",
    ) -> None:
        self._metadata = metadata
        self._deadline = deadline  # time.monotonic() based, None: no deadline
        self._peer = peer
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self._initial: MetadataItems = ()
        self._trailing: MetadataItems = ()
        self._done_callbacks: list[Callable[[Any], None]] = []
        self._done = False
        self._cancelled = False

    # -- what the servicers and interceptors read -------------------------------------------

    def invocation_metadata(self) -> MetadataItems:  # type: ignore[override]
        """The request metadata: str keys, bytes values for `-bin` keys (grpc.aio's form)."""
        return self._metadata

    def time_remaining(self) -> float | None:  # type: ignore[override]
        """Seconds left before the deadline (never negative), None without a deadline."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def peer(self) -> str:
        """Where the call came from: the Lambda invocation, not a socket."""
        return self._peer

    def peer_identities(self) -> Iterable[bytes] | None:
        """No TLS peer in process."""
        return None

    def peer_identity_key(self) -> str | None:
        """No TLS peer in process."""
        return None

    def auth_context(self) -> dict[str, Iterable[bytes]]:
        """No transport security context in process."""
        return {}

    def code(self) -> grpc.StatusCode | None:  # type: ignore[override]
        """The status code set so far (None: not set, i.e. OK when the handler returns)."""
        return self._code

    def details(self) -> str | None:  # type: ignore[override]
        """The status message set so far."""
        return self._details

    def trailing_metadata(self) -> MetadataItems:  # type: ignore[override]
        """The trailing metadata set so far."""
        return self._trailing

    def initial_metadata(self) -> MetadataItems:
        """The initial metadata sent so far (not part of grpc.aio's interface)."""
        return self._initial

    def cancelled(self) -> bool:
        """True once the call was cancelled (its deadline passed)."""
        return self._cancelled

    def done(self) -> bool:
        """True once the call finished."""
        return self._done

    # -- what they set ------------------------------------------------------------------------

    def set_code(self, code: grpc.StatusCode) -> None:
        """Sets the status code the call ends with."""
        self._code = code

    def set_details(self, details: str) -> None:
        """Sets the status message the call ends with."""
        self._details = details

    def set_trailing_metadata(self, trailing_metadata: Sequence[tuple[str, str | bytes]]) -> None:  # type: ignore[override]
        """Replaces the trailing metadata."""
        self._trailing = tuple(trailing_metadata)

    async def send_initial_metadata(  # type: ignore[override]
        self, initial_metadata: Sequence[tuple[str, str | bytes]]
    ) -> None:
        """Records the response's initial metadata (once, as in grpc)."""
        if self._initial:
            raise RuntimeError("initial metadata was already sent")
        self._initial = tuple(initial_metadata)

    async def abort(  # type: ignore[override]
        self,
        code: grpc.StatusCode,
        details: str = "",
        trailing_metadata: Sequence[tuple[str, str | bytes]] = (),
    ) -> NoReturn:
        """Ends the call with `code` and `details`: raises `grpc.aio.AbortError`."""
        if code == grpc.StatusCode.OK:
            raise ValueError("abort() needs a non-OK status code")  # as grpc.aio
        self._code = code
        self._details = details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise grpc.aio.AbortError(f"in-process call aborted with {code.name}")

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        """Ends the call with a `grpc.Status` (e.g. `grpc_status.rpc_status.to_status`)."""
        await self.abort(status.code, status.details, status.trailing_metadata)

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        """Runs `callback(self)` when the call finished."""
        self._done_callbacks.append(callback)

    def finish(self, cancelled: bool = False) -> None:
        """Marks the call done and runs the done callbacks (the dispatcher calls it)."""
        self._done = True
        self._cancelled = cancelled
        for callback in self._done_callbacks:
            callback(self)

    # -- not available in process -----------------------------------------------------------

    async def read(self) -> NoReturn:
        """Client streaming is not served in process."""
        raise NotImplementedError("streaming requests are not served in process")

    async def write(self, message: Any) -> NoReturn:
        """Server streaming is not served in process."""
        raise NotImplementedError("streaming responses are not served in process")

    def set_compression(self, compression: grpc.Compression) -> None:
        """Compression has no meaning without a wire: ignored."""

    def disable_next_message_compression(self) -> None:
        """Compression has no meaning without a wire: ignored."""
