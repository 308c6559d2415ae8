"""Method handlers rebuilt around their behaviour, once, rather than per call.

grpc.aio asks a server interceptor chain for every call's handler: a coroutine per
interceptor and a continuation per call (BUILD.md, "Runtime performance", measures it at
about 40 µs of the event loop's CPU per call on this machine). The service layers
(:class:`~colonnade.runtime.interceptors.ServiceInterceptor` and, when enforced,
:class:`~colonnade.runtime.authz.AuthInterceptor`) wrap each method's handler instead, when
it is registered: :class:`WrappingServer` is the ``grpc.aio.Server`` services register on.
The interceptors' ``intercept_service`` stays for the serverless path, which runs the same
layers in process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import grpc

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Behaviour: TypeAlias = Callable[..., Any]
#: ``wrap(method, handler)``: ``method`` is the full ``/package.Service/Method`` path.
Wrap: TypeAlias = "Callable[[str, Handler], Handler]"


def with_behaviour(handler: Handler, wrap: Callable[[Behaviour], Behaviour]) -> Handler:
    """``handler``'s shape and (de)serializers around ``wrap(behaviour)``."""
    kw: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(handler.unary_unary), **kw)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(handler.unary_stream), **kw)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(handler.stream_unary), **kw)
    assert handler.stream_stream is not None  # a handler has one of the four
    return grpc.stream_stream_rpc_method_handler(wrap(handler.stream_stream), **kw)


class WrapOnce:
    """``wrap(method, handler)``, built once per method and reused while the handler it
    wraps is the same object (generic handlers hand out the same one call after call)."""

    def __init__(self, wrap: Wrap) -> None:
        self._wrap = wrap
        #: method → (the handler as found, our wrapper of it); bounded by the methods served
        self._done: dict[str, tuple[Handler, Handler]] = {}

    def __call__(self, method: str, handler: Handler) -> Handler:
        known = self._done.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(method, handler)
        self._done[method] = (handler, wrapped)
        return wrapped


class _WrappedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, wrap: WrapOnce) -> None:
        self._inner = inner
        self._wrap = wrap

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        return self._wrap(handler_call_details.method, handler)


class WrappingServer(grpc.aio.Server):
    """A grpc.aio server whose registered method handlers are wrapped by ``wrap``.

    Every method a servicer, health or reflection registers goes through it, as the calls
    went through the interceptor chain; the rest is the server's own.
    """

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self.server = server
        self._wrap = WrapOnce(wrap)

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]
    ) -> None:
        self.server.add_generic_rpc_handlers(
            tuple(_WrappedGeneric(h, self._wrap) for h in generic_rpc_handlers)
        )

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, Handler]
    ) -> None:
        self.server.add_registered_method_handlers(
            service_name,
            {m: self._wrap(f"/{service_name}/{m}", h) for m, h in method_handlers.items()},
        )

    def add_insecure_port(self, address: str) -> int:
        return self.server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self.server.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self.server.start()

    async def stop(self, grace: float | None) -> None:
        await self.server.stop(grace)

    async def wait_for_termination(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (grpc.aio.Server's signature)
        return await self.server.wait_for_termination(timeout)
