"""The server interceptor every service gets.

One interceptor (one wrapper per call, not three) does the cross-cutting work:

* request id: taken from the ``x-request-id`` metadata or generated, put in the
  logging context and echoed back in the trailing metadata;
* observation (:class:`~colonnade.runtime.observability.Observability`): the trace id
  (from a W3C ``traceparent``, or a new one) for every log line of the call, a server span
  when the call is sampled, and the RED metrics (calls by code, latency, in flight);
* deadline: the call's deadline recorded for the internal client, which caps
  outbound calls by it (Python does not propagate deadlines by itself);
* error mapping: a :class:`~colonnade.runtime.errors.DomainError` becomes a rich
  ``google.rpc.Status``; any other exception an INTERNAL that leaks nothing;
* access log: one JSON line per call with method, code and duration; with
  ``LOG_ACCESS_SAMPLE`` below 1, a random share of the successful calls (failed calls
  always get theirs).

A server from :func:`~colonnade.runtime.server.build_server` applies it to each method's
handler once, at registration (:meth:`ServiceInterceptor.wrap`), rather than as a grpc.aio
interceptor asked on every call; as an interceptor (the serverless path runs it in process)
the wrapped handler of each method is built once and reused while the next interceptor
returns the same handler for it; generated request ids are a per-process random prefix and
a counter (the same 32 hex digits as a UUID's, unique without a syscall per call).
BUILD.md ("Runtime performance") has the measurements behind these choices.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from colonnade.runtime.errors import DomainError
from colonnade.runtime.handlers import WrapOnce, with_behaviour
from colonnade.runtime.logging import call_deadline_var, request_id_var
from colonnade.runtime.metrics import RpcMeter
from colonnade.runtime.observability import Observability
from colonnade.runtime.status import grpc_code, internal_status, to_grpc_status
from colonnade.runtime.tracing import ServerSpan, SpanKind

log = logging.getLogger("colonnade.access")
error_log = logging.getLogger("colonnade.errors")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_OK = grpc.StatusCode.OK


class RequestIds:
    """Request ids: 16 random hex digits per process, then a 16-digit counter.

    As unique as ``uuid4().hex`` across processes and restarts (64 random bits per process)
    and never repeated within one, at a fraction of its cost (no ``os.urandom`` per call).
    A forked child draws a new prefix.
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(random.getrandbits(32))

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


request_ids = RequestIds()


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    """Request id, trace id, domain-error mapping and access logs for every call."""

    def __init__(
        self,
        *,
        access_log: bool = True,
        observability: Observability | None = None,
        access_log_sample: float = 1.0,
    ) -> None:
        self._access_log = access_log
        self._sample = access_log_sample
        self._obs = observability or Observability.disabled("service")
        self._spans: dict[str, tuple[str, dict[str, str]]] = {}
        self._once = WrapOnce(self.wrap)

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
        return self._once(handler_call_details.method, handler)

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """``handler`` with this interceptor's work around each call (what
        :meth:`intercept_service` hands grpc; a server wraps its handlers once with it)."""
        if handler.request_streaming:
            return handler  # streaming requests: no service of ours uses them yet

        def around(behaviour: Callable[..., Any]) -> Callable[..., Any]:
            # aio streaming handlers are async generators or coroutines calling context.write().
            if inspect.isasyncgenfunction(behaviour):
                return self._wrap_stream(method, behaviour)
            return self._wrap_unary(method, behaviour)

        return with_behaviour(handler, around)

    def _begin(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[str, float, ServerSpan]:
        request_id = traceparent = None
        for item in context.invocation_metadata() or ():  # one pass for both
            key = item[0]
            if key == "x-request-id" and isinstance(item[1], str):
                request_id = item[1]
            elif key == "traceparent" and isinstance(item[1], str):
                traceparent = item[1]
        if not request_id or not _REQUEST_ID.match(request_id):
            request_id = request_ids.next()
        request_id_var.set(request_id)
        remaining = context.time_remaining()
        call_deadline_var.set(None if remaining is None else time.monotonic() + remaining)
        span = self._span_of(method)
        server_span = self._obs.tracing.begin(span[0], traceparent, SpanKind.SERVER, span[1])
        return request_id, time.perf_counter(), server_span

    def _span_of(self, method: str) -> tuple[str, dict[str, str]]:
        """The span name and attributes of ``/pkg.Service/Method`` (computed once)."""
        found = self._spans.get(method)
        if found is None:
            service, _, name = method.lstrip("/").rpartition("/")
            found = self._spans[method] = (
                method.lstrip("/"),
                {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
            )
        return found

    def _end(
        self,
        method: str,
        meter: RpcMeter,
        context: grpc.aio.ServicerContext[Any, Any],
        started: float,
        span: ServerSpan,
        cancelled: bool,
        peer: str | None = None,
    ) -> None:
        """The access log line (sampled), then the RED metrics and the span's end. A stream
        passes the ``peer`` it read at its start (see ``stream``)."""
        code = context.code() or _OK
        if self._access_log and (
            code is not _OK or self._sample >= 1.0 or random.random() < self._sample
        ):
            log.info(
                "rpc",
                extra={
                    "method": method,
                    "code": code.name,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "peer": context.peer() if peer is None else peer,
                },
            )
        name = "CANCELLED" if cancelled else code.name
        meter.finished(name, time.perf_counter() - started)
        if span.span is None:
            span.end()
        else:
            span.end(None if name == "OK" else name, {"rpc.grpc.status_code": name})

    @staticmethod
    def _echo_request_id(context: grpc.aio.ServicerContext[Any, Any], request_id: str) -> None:
        # The first interceptor, called before the handler: nothing set any trailer yet.
        context.set_trailing_metadata((("x-request-id", request_id),))

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

    def _wrap_unary(
        self, method: str, behaviour: Callable[..., Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        meter = self._obs.metrics.rpc_meter(method.rsplit("/", 1)[-1])

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            request_id, started, span = self._begin(method, context)
            meter.started()
            self._echo_request_id(context, request_id)
            cancelled = False
            try:
                return await behaviour(request, context)
            except grpc.aio.AbortError:
                raise
            except asyncio.CancelledError:
                cancelled = True
                raise
            except Exception as exc:
                await self._fail(context, method, exc)
            finally:
                self._end(method, meter, context, started, span, cancelled)

        return unary

    def _wrap_stream(
        self, method: str, behaviour: Callable[..., Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
        meter = self._obs.metrics.rpc_meter(method.rsplit("/", 1)[-1])

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            request_id, started, span = self._begin(method, context)
            meter.started()
            self._echo_request_id(context, request_id)
            # Read now, while the call lives. When a client cancels, grpc.aio stops iterating
            # this generator without closing it; the event loop closes it later, after the
            # call is freed, and context.peer() there reads freed memory (SIGSEGV).
            # context.code() is a Python attribute and safe then.
            peer = context.peer() if self._access_log else ""
            cancelled = False
            try:
                async for response in behaviour(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except (asyncio.CancelledError, GeneratorExit):
                cancelled = True
                raise
            except Exception as exc:
                await self._fail(context, method, exc)
            finally:
                self._end(method, meter, context, started, span, cancelled, peer)

        return stream
