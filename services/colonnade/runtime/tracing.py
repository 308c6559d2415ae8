"""Traces: W3C ``traceparent`` in and out, spans through OpenTelemetry's SDK, sampling.

The sampling decision is made here, before the SDK is asked for anything: a request that
arrives with a ``traceparent`` follows its sampled flag; one without is sampled with
probability ``ratio`` (``TRACE_SAMPLE_RATIO``; 1 locally, a few percent in prod). An
unsampled request costs no SDK work at all (a span the SDK would not record still costs
~10 µs: BUILD.md), but it still gets a trace id, which goes into every log line written
while serving it and travels on to the next service (a new one with the flag off; a caller's
unchanged, its flag included, W3C), so one request's logs can be joined across processes
whether or not it was sampled. With no exporter a service records nothing, even for a
sampled caller, and passes the caller's context on.

A sampled request gets a span through the SDK (parent: the caller's span, remote) that is
made current; spans for SQL statements, cache commands and internal client calls are its
children, started only when the current span records (:meth:`Tracing.child`).

Exporters (``TRACE_EXPORTERS``, a list): ``otlp`` (OTLP/gRPC to ``OTLP_ENDPOINT``: the
ADOT collector beside the task in AWS, which forwards to X-Ray), ``stdout`` (one JSON span
per line), ``file:PATH`` (the same, appended to PATH), ``memory`` (kept in process; tests
read :attr:`Tracing.memory`). With none, nothing is sampled.

Trace ids made here start with the epoch seconds (X-Ray's trace id layout inside a valid W3C
id), so the same ids work in X-Ray and anywhere else.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import random
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from colonnade.runtime.config import SettingsError
from colonnade.runtime.logging import trace_id_var

__all__ = [
    "Span",
    "SpanKind",
    "TraceParent",
    "Tracing",
    "outbound_traceparent",
    "parse_traceparent",
]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

#: The ``traceparent`` to send with calls made while serving the current request: the
#: current span's ids when it is sampled, the caller's parent id and flag 00 when not.
_outbound: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "colonnade_traceparent", default=None
)


@dataclass(frozen=True, slots=True)
class TraceParent:
    """A parsed W3C ``traceparent`` (version 00 fields)."""

    trace_id: str  # 32 lower-case hex digits, not all zero
    span_id: str  # 16 hex digits, not all zero
    sampled: bool

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse_traceparent(value: str | bytes | None) -> TraceParent | None:
    """The caller's trace context, or None for a missing or malformed header (W3C: ignore it)."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    match = _TRACEPARENT.match(value.strip())
    if match is None:
        return None
    version, trace_id, span_id, flags = match.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceParent(trace_id, span_id, bool(int(flags, 16) & 1))


def outbound_traceparent() -> str | None:
    """The ``traceparent`` for a call made now (None outside any request)."""
    return _outbound.get()


def _span_json(span: ReadableSpan, service: str) -> str:
    ctx = span.get_span_context()
    parent = span.parent
    assert ctx is not None
    return json.dumps(
        {
            "service": service,
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": format(ctx.trace_id, "032x"),
            "span_id": format(ctx.span_id, "016x"),
            "parent_id": None if parent is None else format(parent.span_id, "016x"),
            "start_ns": span.start_time,
            "end_ns": span.end_time,
            "status": span.status.status_code.name,
            "attributes": dict(span.attributes or {}),
        },
        default=str,
        separators=(",", ":"),
    )


class JsonLinesSpanExporter(SpanExporter):
    """One JSON object per span and line, to a stream or appended to a file."""

    def __init__(self, service: str, stream: IO[str] | None = None, path: str = "") -> None:
        self._service = service
        self._stream = stream
        self._path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(_span_json(s, self._service) + "\n" for s in spans)
        with self._lock:
            if self._path:
                with open(self._path, "a", encoding="utf-8") as out:
                    out.write(text)
            else:
                stream = self._stream or sys.stdout
                stream.write(text)
                stream.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


class EpochTraceIds(IdGenerator):
    """Trace ids whose first 32 bits are the start time in epoch seconds (then 96 random).

    Still W3C trace ids; X-Ray, where the ADOT collector sends the spans, reads the first 8
    hex digits as the trace's time and refuses ids outside its window (the AWS X-Ray id
    generators of OpenTelemetry's contrib packages do the same).
    """

    def generate_span_id(self) -> int:
        return random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return ((int(time.time()) & 0xFFFFFFFF) << 96) | random.getrandbits(96)


class ServerSpan:
    """What :meth:`Tracing.begin` started: a recording span made current, or nothing."""

    __slots__ = ("_outbound_token", "_token", "span")

    def __init__(
        self,
        span: Span | None,
        token: object | None,
        outbound_token: contextvars.Token[str | None] | None,
    ) -> None:
        self.span = span
        self._token = token
        self._outbound_token = outbound_token

    def end(self, error: str | None = None, attributes: dict[str, Any] | None = None) -> None:
        """Ends the span (``error``: its status description) and restores the context.

        Unsampled (no span), callers pass nothing: building attributes would be wasted."""
        span = self.span
        if span is not None:
            if attributes:
                span.set_attributes(attributes)
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, error))
            span.end()
            if self._token is not None:
                otel_context.detach(self._token)  # type: ignore[arg-type]
        if self._outbound_token is not None:
            # ValueError: ended in another context (a stream finished by another task).
            with contextlib.suppress(ValueError):
                _outbound.reset(self._outbound_token)


#: What :meth:`Tracing.begin` returns for a request it does not record.
UNSAMPLED = ServerSpan(None, None, None)


class Tracing:
    """The spans of one process (or one in-process server in tests)."""

    def __init__(
        self,
        service: str,
        *,
        exporters: Sequence[str] = (),
        ratio: float = 1.0,
        otlp_endpoint: str = "http://127.0.0.1:4317",
    ) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise SettingsError(f"TRACE_SAMPLE_RATIO must be between 0 and 1, got {ratio}")
        self.service = service
        self.ratio = ratio
        self.memory: InMemorySpanExporter | None = None
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": service}),
            id_generator=EpochTraceIds(),
            # The decision is ours (module docstring); the SDK records what it is given.
            sampler=ALWAYS_ON,
        )
        for name in exporters:
            self.provider.add_span_processor(self._processor(name, otlp_endpoint))
        #: Anything to record into: with no exporter nothing is sampled, whatever callers say.
        self.enabled = bool(exporters)
        self.tracer = self.provider.get_tracer("colonnade")

    def _processor(self, name: str, otlp_endpoint: str) -> Any:
        if name == "memory":
            self.memory = InMemorySpanExporter()
            return SimpleSpanProcessor(self.memory)
        if name == "stdout":
            return BatchSpanProcessor(JsonLinesSpanExporter(self.service, sys.stdout))
        if name.startswith("file:") and len(name) > 5:
            # Simple: a test (or a person) reads the file as soon as the request returns.
            return SimpleSpanProcessor(JsonLinesSpanExporter(self.service, path=name[5:]))
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            return BatchSpanProcessor(
                OTLPSpanExporter(endpoint=otlp_endpoint, insecure=otlp_endpoint.startswith("http:"))
            )
        raise SettingsError(
            f"TRACE_EXPORTERS: unknown exporter {name!r} (otlp, stdout, file:PATH, memory)"
        )

    # -- server side --------------------------------------------------------------------------

    def begin(
        self,
        name: str,
        traceparent: str | bytes | None,
        kind: SpanKind = SpanKind.SERVER,
        attributes: dict[str, Any] | None = None,
    ) -> ServerSpan:
        """Start serving a request: the trace id for logs, the outbound ``traceparent``, and
        a current span when the request is sampled."""
        parent = parse_traceparent(traceparent)
        if parent is not None:
            sampled = parent.sampled and self.enabled
        else:
            ratio = self.ratio
            sampled = self.enabled and (ratio >= 1.0 or (ratio > 0.0 and random.random() < ratio))
        if not sampled:
            # Not recorded: no span, nothing to restore (every request and every call runs in a
            # task of its own, whose context ends with it).
            if parent is not None:
                # Not participating: the caller's context goes on unchanged (W3C), its sampled
                # flag included, so a downstream service that traces still records the trace.
                trace_id_var.set(parent.trace_id)
                _outbound.set(parent.header())
                return UNSAMPLED
            # X-Ray's shape (module docstring): epoch seconds, then 24 + 16 random hex digits.
            ids = f"{int(time.time()) & 0xFFFFFFFF:08x}{random.getrandbits(160):040x}"
            trace_id_var.set(ids[:32])
            _outbound.set(f"00-{ids[:32]}-{ids[32:]}-00")
            return UNSAMPLED
        ctx = None
        if parent is not None:
            remote = SpanContext(
                int(parent.trace_id, 16),
                int(parent.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            ctx = trace.set_span_in_context(NonRecordingSpan(remote))
        span = self.tracer.start_span(name, context=ctx, kind=kind, attributes=attributes)
        sc = span.get_span_context()
        trace_id = format(sc.trace_id, "032x")
        trace_id_var.set(trace_id)
        token = otel_context.attach(trace.set_span_in_context(span))
        outbound = _outbound.set(f"00-{trace_id}-{sc.span_id:016x}-01")
        return ServerSpan(span, token, outbound)

    # -- children -----------------------------------------------------------------------------

    @staticmethod
    def recording() -> bool:
        """Whether the current span records (a sampled request): :meth:`child` makes spans."""
        return bool(trace.get_current_span().is_recording())

    def child(
        self, name: str, kind: SpanKind, attributes: dict[str, Any] | None = None
    ) -> Span | None:
        """A span under the current one when that records (a sampled request), else None.

        Not made current: SQL, cache and client spans are leaves of this process's tree.
        """
        if not trace.get_current_span().is_recording():
            return None
        return self.tracer.start_span(name, kind=kind, attributes=attributes)

    @staticmethod
    def traceparent_of(span: Span) -> str:
        """The ``traceparent`` naming ``span`` as the parent (for a client span's call)."""
        sc = span.get_span_context()
        return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-01"

    def shutdown(self) -> None:
        """Flush and stop the exporters (at process exit)."""
        self.provider.shutdown()


def end_span(span: Span, error: str | None = None) -> None:
    """End a child span, marking it failed with ``error``'s description when given."""
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
