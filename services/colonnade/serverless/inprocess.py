"""The in-process call path: the real servicers behind the runtime's server interceptors,
called without a socket.

A Lambda function cannot receive gRPC, so on Lambda the gateway's backend call and orders'
calls to the catalog go here instead of over HTTP/2:

    gateway Call step ──► InProcessChannel.unary(path, bytes, metadata, timeout)
    orders' catalog stub ──► InProcessChannels.get(...) (the runtime's client interceptor)
                          ╲
                           ► InProcessServer.call: interceptors (ServiceInterceptor, auth)
                             → the generated method handler → the servicer, with an
                             InProcessContext (context.py) carrying metadata and deadline

`InProcessServer` is what `add_XServicer_to_server(servicer, server)` registers on, so the
services' own registration code runs unchanged. Requests and responses cross as serialized
bytes, as on the wire: the gateway builds messages from its own descriptor pool, the
servicers use the generated classes, and the bytes are the contract between them.

Streaming methods are not served in process: API Gateway's Lambda proxy integration buffers
a whole response (at most 6 MB, within the 29 s integration timeout) before the client sees
a byte, so a server stream (an order followed live) could neither stream nor outlive the
timeout. They fail UNIMPLEMENTED, which the gateway answers with HTTP 501 and this reason.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import grpc

from colonnade.gateway.backend import BackendMap, Backends
from colonnade.gateway.errors import RpcError
from colonnade.gateway.grpcaio import from_aio_metadata, to_aio_metadata
from colonnade.gateway.metadata import Metadata
from colonnade.gateway.routing import Route
from colonnade.gateway.rpc import Channel, UnaryResponse
from colonnade.gateway.status import Code
from colonnade.runtime.client import Channels, ClientConfig, _ContextInterceptor
from colonnade.runtime.observability import Observability
from colonnade.serverless.context import InProcessContext, MetadataItems

STREAMING_UNSUPPORTED = (
    "streaming methods are not served by the serverless deployment: API Gateway's Lambda "
    "proxy integration buffers the whole response (6 MB, 29 s) before the client sees it; "
    "use the container deployment's endpoint for streams"
)
TARGET = "inprocess"

#: When the current Lambda invocation must have answered (time.monotonic()), set per event:
#: every in-process call's deadline is capped by it, as a gRPC client's would be by its own.
invocation_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "colonnade_invocation_deadline", default=None
)


class CallFailed(Exception):
    """An in-process call that did not end OK: grpc.aio's status and metadata."""

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        initial: MetadataItems = (),
        trailing: MetadataItems = (),
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.initial = initial
        self.trailing = trailing


class _CallDetails(
    collections.namedtuple("_CallDetails", ("method", "invocation_metadata")),
    grpc.HandlerCallDetails,
):
    """What a server interceptor sees of a call (grpc.aio's own is the same namedtuple)."""


Interceptor = grpc.aio.ServerInterceptor
Continuation = Callable[
    [grpc.HandlerCallDetails], Awaitable["grpc.RpcMethodHandler[Any, Any] | None"]
]


class InProcessServer:
    """The servicers registered as on a grpc.aio server, called in process."""

    def __init__(self, interceptors: Sequence[Interceptor] = ()) -> None:
        self.interceptors = list(interceptors)
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self.services: set[str] = set()
        self._generic: list[grpc.GenericRpcHandler] = []

    # -- what add_XServicer_to_server calls ---------------------------------------------------

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        """Generic handlers (looked up when a method has no registered handler)."""
        self._generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        """The generated code's method handlers of `service`, by method name."""
        self.services.add(service)
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler

    # -- calling --------------------------------------------------------------------------

    async def _lookup(
        self, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = self.handlers.get(details.method)
        if handler is None:
            for generic in self._generic:
                handler = generic.service(details)
                if handler is not None:
                    break
        return handler

    async def _handler(
        self, method: str, metadata: MetadataItems
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """The method's handler as the interceptors return it (they run per call, as on a
        grpc.aio server: the auth interceptor reads the call's metadata)."""
        continuation: Continuation = self._lookup
        for interceptor in reversed(self.interceptors):
            continuation = _chain(interceptor, continuation)
        return await continuation(_CallDetails(method, metadata))

    async def call(
        self, method: str, request: bytes, metadata: MetadataItems, deadline: float | None
    ) -> tuple[bytes, MetadataItems, MetadataItems]:
        """Calls a unary method with a serialized request; returns the serialized response
        and the initial and trailing metadata, or raises CallFailed."""
        handler = await self._handler(method, metadata)
        if handler is None:
            raise CallFailed(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
        if handler.unary_unary is None:
            raise CallFailed(grpc.StatusCode.UNIMPLEMENTED, STREAMING_UNSUPPORTED)
        context = InProcessContext(metadata, deadline)
        try:
            message = (
                handler.request_deserializer(request) if handler.request_deserializer else request
            )
        except Exception as exc:  # grpc answers an undecodable request INTERNAL
            raise CallFailed(grpc.StatusCode.INTERNAL, f"Failed to parse request: {exc}") from None
        # A task of its own: the interceptor's context variables (request id, deadline) stay
        # the call's, not the caller's, exactly as grpc.aio runs each call in its own task.
        task = asyncio.ensure_future(handler.unary_unary(message, context))  # type: ignore[arg-type]
        cancelled = False
        try:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            response = await asyncio.wait_for(task, timeout)
        except grpc.aio.AbortError:
            raise self._failed(context) from None
        except TimeoutError:
            cancelled = True
            raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except Exception as exc:  # what grpc.aio answers for an exception nothing mapped
            raise CallFailed(
                grpc.StatusCode.UNKNOWN,
                f"Unexpected {type(exc)}: {exc}",
                context.initial_metadata(),
            ) from None
        finally:
            context.finish(cancelled)
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            raise self._failed(context)
        data: bytes = (
            handler.response_serializer(response) if handler.response_serializer else response
        )
        return data, context.initial_metadata(), context.trailing_metadata()

    @staticmethod
    def _failed(context: InProcessContext) -> CallFailed:
        code = context.code() or grpc.StatusCode.UNKNOWN
        return CallFailed(
            code,
            context.details() or "",
            context.initial_metadata(),
            context.trailing_metadata(),
        )


def _chain(interceptor: Interceptor, continuation: Continuation) -> Continuation:
    async def next_handler(details: grpc.HandlerCallDetails) -> Any:
        return await interceptor.intercept_service(continuation, details)

    return next_handler


def call_deadline(timeout: float | None) -> float | None:
    """The deadline of a call with `timeout` seconds, capped by the invocation's."""
    cap = invocation_deadline.get()
    if timeout is None:
        return cap
    deadline = time.monotonic() + timeout
    return deadline if cap is None else min(deadline, cap)


# -- the gateway's side (rpc.Channel) ----------------------------------------------------------


class _Unsupported:
    """A streaming call of the gateway that fails UNIMPLEMENTED on its first read."""

    initial_metadata: Metadata = []
    trailing_metadata: Metadata = []

    async def read(self) -> bytes | None:
        raise RpcError(Code.UNIMPLEMENTED, STREAMING_UNSUPPORTED)

    async def write(self, message: bytes) -> bool:
        return False

    async def done_writing(self) -> None:
        return None

    def cancel(self) -> None:
        return None


class InProcessChannel:
    """The gateway's backend channel (rpc.Channel) onto an InProcessServer."""

    target = TARGET

    def __init__(self, server: InProcessServer) -> None:
        self.server = server

    async def unary(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, as on the wire
    ) -> UnaryResponse:
        """Calls a unary method in process; RpcError unless it ends OK."""
        try:
            data, initial, trailing = await self.server.call(
                path, request, to_aio_metadata(metadata), call_deadline(timeout)
            )
        except CallFailed as exc:
            trailers = from_aio_metadata(exc.trailing)
            # A call failing before its headers went out is "trailers-only" on the wire, and
            # the gateway's own client reports those trailers as the headers' metadata too
            # (grpcaio.py's docstring): the same answer, Grpc-Metadata-* headers included.
            headers = from_aio_metadata(exc.initial) if exc.initial else trailers
            raise RpcError(exc.code.value[0], exc.details, headers, trailers) from None
        return UnaryResponse(data, from_aio_metadata(initial), from_aio_metadata(trailing))

    def stream(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> _Unsupported:
        """Server streaming: UNIMPLEMENTED (the module docstring says why)."""
        return _Unsupported()

    def duplex(
        self,
        path: str,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> _Unsupported:
        """Client and bidirectional streaming: UNIMPLEMENTED."""
        return _Unsupported()

    def connect(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to close."""


class InProcessBackends(Backends):
    """The gateway's backends when every routed service is served in process."""

    def __init__(self, server: InProcessServer) -> None:
        super().__init__(BackendMap({}), channels=1, max_message=0)
        self.server = server
        self.channel = InProcessChannel(server)

    def check_routes(self, routes: Iterable[Route]) -> list[str]:
        """Routes of services not registered in process are answered UNIMPLEMENTED (a
        descriptor set may describe more services than one function serves)."""
        for r in routes:
            self.services[r.service] = TARGET
        return []

    def start(self) -> None:
        """Nothing to open."""

    def channel_for(self, service: str) -> Channel:
        """The in-process channel (every service)."""
        return self.channel

    async def readiness(self, wait: float = 1.0) -> dict[str, str]:
        """SERVING for the services served in process, SERVICE_UNKNOWN for the others."""
        return {
            s: "SERVING" if s in self.server.services else "SERVICE_UNKNOWN"
            for s in sorted(self.services)
        }

    async def close(self) -> None:
        """Nothing to close."""


# -- a service's internal client (orders → catalog) ------------------------------------------


class _UnaryUnary:
    """`channel.unary_unary(...)` of a generated stub, in process."""

    def __init__(
        self,
        server: InProcessServer,
        method: str,
        serializer: Callable[[Any], bytes] | None,
        deserializer: Callable[[bytes], Any] | None,
        interceptor: _ContextInterceptor,
    ) -> None:
        self._server = server
        self._method = method
        self._serialize = serializer
        self._deserialize = deserializer
        self._interceptor = interceptor

    async def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - grpc.aio's multicallable signature
        metadata: Any = None,
        credentials: Any = None,
        wait_for_ready: bool | None = None,
        compression: Any = None,
    ) -> Any:
        details = grpc.aio.ClientCallDetails(
            method=self._method,
            timeout=timeout,
            metadata=grpc.aio.Metadata(*(metadata or ())),
            credentials=credentials,
            wait_for_ready=wait_for_ready,
        )
        # The runtime's client interceptor: caller's deadline, request id, trace context,
        # service identity, client metrics — as for a call over the network.
        return await self._interceptor.intercept_unary_unary(self._continue, details, request)

    async def _continue(self, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        return self._invoke(details, request)

    async def _invoke(self, details: grpc.aio.ClientCallDetails, request: Any) -> Any:
        data = self._serialize(request) if self._serialize else request
        metadata: MetadataItems = tuple(details.metadata or ())
        try:
            raw, _initial, _trailing = await self._server.call(
                self._method, data, metadata, call_deadline(details.timeout)
            )
        except CallFailed as exc:
            raise grpc.aio.AioRpcError(
                exc.code,
                grpc.aio.Metadata(*exc.initial),
                grpc.aio.Metadata(*exc.trailing),
                details=exc.details,
            ) from None
        return self._deserialize(raw) if self._deserialize else raw


class InProcessGrpcChannel:
    """The part of `grpc.aio.Channel` a generated stub uses, onto an InProcessServer."""

    def __init__(self, server: InProcessServer, interceptor: _ContextInterceptor) -> None:
        self._server = server
        self._interceptor = interceptor

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        _registered_method: bool | None = False,
    ) -> _UnaryUnary:
        """A unary method of the stub."""
        return _UnaryUnary(
            self._server, method, request_serializer, response_deserializer, self._interceptor
        )

    def __getattr__(self, name: str) -> Any:
        if name in ("unary_stream", "stream_unary", "stream_stream"):
            raise NotImplementedError(STREAMING_UNSUPPORTED)
        raise AttributeError(name)


class InProcessChannels(Channels):
    """The runtime's `Channels` for a service whose peers live in the same function: every
    target is the in-process server."""

    def __init__(self, server: InProcessServer, observability: Observability | None = None) -> None:
        super().__init__(observability)
        self.server = server

    def get(self, target: str, config: ClientConfig) -> Any:
        """The in-process channel for `config.service` (target names the function itself)."""
        return InProcessGrpcChannel(
            self.server, _ContextInterceptor(config, TARGET, self._obs, self.identity)
        )

    async def close(self) -> None:
        """Nothing to close."""
