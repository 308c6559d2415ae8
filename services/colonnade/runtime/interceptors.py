"""The server interceptor every service gets.

One interceptor (one wrapper per call, not three) does the cross-cutting work:

* request id: taken from the ``x-request-id`` metadata or generated, put in the
  logging context and echoed back in the trailing metadata;
* trace id: taken from a W3C ``traceparent`` when the caller sends one;
* deadline: the call's deadline recorded for the internal client, which caps
  outbound calls by it (Python does not propagate deadlines by itself);
* error mapping: a :class:`~colonnade.runtime.errors.DomainError` becomes a rich
  ``google.rpc.Status``; any other exception an INTERNAL that leaks nothing;
* access log: one JSON line per call with method, code and duration.
"""

from __future__ import annotations

import inspect
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from colonnade.runtime.errors import DomainError
from colonnade.runtime.logging import call_deadline_var, request_id_var, trace_id_var
from colonnade.runtime.status import grpc_code, internal_status, to_grpc_status

log = logging.getLogger("colonnade.access")
error_log = logging.getLogger("colonnade.errors")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def _metadata_value(metadata: Any, key: str) -> str | None:
    for item in metadata or ():
        if item[0] == key:
            value = item[1]
            return value if isinstance(value, str) else None
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Request id, trace id, domain-error mapping and access logs for every call."""

    def __init__(self, *, access_log: bool = True) -> None:
        self._access_log = access_log

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            # aio streaming handlers are async generators or coroutines calling context.write().
            wrap = (
                self._wrap_stream
                if inspect.isasyncgenfunction(handler.unary_stream)
                else self._wrap_unary
            )
            return grpc.unary_stream_rpc_method_handler(
                wrap(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # streaming requests: no service of ours uses them yet

    def _begin(self, context: grpc.aio.ServicerContext[Any, Any]) -> tuple[str, float]:
        metadata = context.invocation_metadata()
        request_id = _metadata_value(metadata, "x-request-id")
        if not request_id or not _REQUEST_ID.match(request_id):
            request_id = uuid.uuid4().hex
        request_id_var.set(request_id)
        traceparent = _metadata_value(metadata, "traceparent")
        match = _TRACEPARENT.match(traceparent) if traceparent else None
        trace_id_var.set(match.group(1) if match else None)
        remaining = context.time_remaining()
        call_deadline_var.set(None if remaining is None else time.monotonic() + remaining)
        return request_id, time.perf_counter()

    @staticmethod
    def _echo_request_id(context: grpc.aio.ServicerContext[Any, Any], request_id: str) -> None:
        existing = tuple(context.trailing_metadata() or ())
        context.set_trailing_metadata((*existing, ("x-request-id", request_id)))

    async def _fail(
        self, context: grpc.aio.ServicerContext[Any, Any], method: str, exc: Exception
    ) -> None:
        if isinstance(exc, DomainError):
            status = to_grpc_status(exc)
            level = logging.ERROR if grpc_code(exc) is grpc.StatusCode.INTERNAL else logging.INFO
            error_log.log(level, "%s failed: %s", method, exc.message, extra={"reason": exc.reason})
        else:
            error_log.exception("%s raised an unexpected error", method)
            status = internal_status()
        existing = tuple(context.trailing_metadata() or ())
        await context.abort(
            status.code, status.details, trailing_metadata=(*existing, *status.trailing_metadata)
        )

    def _log(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any], started: float
    ) -> None:
        if self._access_log:
            code = context.code()
            log.info(
                "rpc",
                extra={
                    "method": method,
                    "code": (code or grpc.StatusCode.OK).name,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "peer": context.peer(),
                },
            )

    def _wrap_unary(
        self, method: str, behaviour: Callable[..., Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            request_id, started = self._begin(context)
            self._echo_request_id(context, request_id)
            try:
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await self._fail(context, method, exc)
            finally:
                self._log(method, context, started)

        return unary

    def _wrap_stream(
        self, method: str, behaviour: Callable[..., Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            request_id, started = self._begin(context)
            self._echo_request_id(context, request_id)
            try:
                async for response in behaviour(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await self._fail(context, method, exc)
            finally:
                self._log(method, context, started)

        return stream
