"""Metrics, traces and the admin port of one process, set up from its settings.

:class:`Observability` bundles a :class:`~colonnade.runtime.metrics.Metrics` registry, a
:class:`~colonnade.runtime.tracing.Tracing` and, when asked, the EMF writer and a small HTTP
server on the admin port (``ADMIN_PORT``) answering ``/metrics`` (Prometheus text),
``/status.json`` (the key figures the gateway's ``/status`` page shows) and ``/healthz``.
The server interceptor, the internal client, the database pool and the cache cluster are
handed it; each reports through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from colonnade.runtime.emf import SERVER_ERROR_CODES, EmfEmitter
from colonnade.runtime.metrics import Metrics
from colonnade.runtime.tracing import Tracing

log = logging.getLogger("colonnade.observability")


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    """The settings of :class:`Observability` (read by ``Settings`` and the gateway's config)."""

    service: str
    #: ``otlp``, ``stdout``, ``file:PATH``, ``memory``; none: no spans are recorded.
    trace_exporters: tuple[str, ...] = ()
    #: Probability that a request arriving without a ``traceparent`` is sampled.
    trace_sample_ratio: float = 1.0
    otlp_endpoint: str = "http://127.0.0.1:4317"
    #: Seconds between EMF lines on stdout (0: none).
    emf_interval: float = 0.0
    emf_namespace: str = "Colonnade"
    #: The admin HTTP port (``/metrics``, ``/status.json``); -1: none, 0: a free port.
    admin_host: str = "127.0.0.1"
    admin_port: int = -1


class Observability:
    """Metrics, tracing, EMF and the admin server of one process."""

    def __init__(self, config: ObservabilityConfig) -> None:
        self.config = config
        self.service = config.service
        self.metrics = Metrics(config.service)
        self.tracing = Tracing(
            config.service,
            exporters=config.trace_exporters,
            ratio=config.trace_sample_ratio,
            otlp_endpoint=config.otlp_endpoint,
        )
        self.emf = EmfEmitter(self.metrics, config.emf_namespace)
        self.started_at = time.time()
        self.admin_port: int | None = None
        self._admin: asyncio.base_events.Server | None = None
        #: Extra figures for /status.json (``name → callable``), e.g. the cache's node states.
        self.status_extras: dict[str, Callable[[], Any]] = {}

    @classmethod
    def disabled(cls, service: str) -> Observability:
        """Metrics only, nothing exported or served (tests, tools)."""
        return cls(ObservabilityConfig(service))

    async def start(self) -> None:
        """Start the EMF writer and the admin server, as configured."""
        if self.config.emf_interval > 0:
            self.emf.start(self.config.emf_interval)
        if self.config.admin_port >= 0:
            self._admin = await serve_admin(
                self.config.admin_host, self.config.admin_port, self._handle
            )
            self.admin_port = int(self._admin.sockets[0].getsockname()[1])
            log.info(
                "admin port listening",
                extra={
                    "metrics": f"http://{self.config.admin_host}:{self.admin_port}/metrics",
                },
            )

    async def stop(self) -> None:
        """Stop serving, write the last EMF line, flush spans."""
        if self._admin is not None:
            self._admin.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._admin.wait_closed(), 2)
            self._admin = None
        await self.emf.stop()
        await asyncio.to_thread(self.tracing.shutdown)

    async def _handle(self, path: str) -> tuple[int, bytes, bytes]:
        if path == "/metrics":
            return 200, b"text/plain; version=0.0.4; charset=utf-8", self.metrics.exposition()
        if path == "/status.json":
            return 200, b"application/json", orjson.dumps(self.status())
        if path == "/healthz":
            return 200, b"application/json", b'{"status":"SERVING"}'
        return 404, b"text/plain", b"not found\n"

    def status(self) -> dict[str, Any]:
        """The key figures of this process (see :func:`rpc_summary`)."""
        m = self.metrics
        out: dict[str, Any] = {
            "service": self.service,
            "pid": os.getpid(),
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "cpu_seconds": round(m.sample("process_cpu_seconds_total"), 2),
            "rss_bytes": m.sample("process_resident_memory_bytes"),
            "rpc": rpc_summary(m),
        }
        pool = {labels["state"]: v for labels, v in m.samples("colonnade_db_pool_connections")}
        if pool:
            out["db_pool"] = pool
            out["db_pool_exhausted"] = m.sample(
                "colonnade_db_pool_exhausted_total", service=m.service
            )
        degraded = list(m.samples("colonnade_cache_degraded"))
        if degraded:
            out["cache"] = {
                "degraded": bool(degraded[0][1]),
                "hits": m.sample("colonnade_cache_requests_total", service=m.service, result="hit"),
                "misses": m.sample(
                    "colonnade_cache_requests_total", service=m.service, result="miss"
                ),
            }
        for name, extra in self.status_extras.items():
            out[name] = extra()
        return out


def rpc_summary(metrics: Metrics) -> dict[str, Any]:
    """Per method: requests, server errors, in flight and the p99 bucket bound (seconds)."""
    methods: dict[str, dict[str, Any]] = {}
    for labels, value in metrics.samples("colonnade_rpc_server_requests_total"):
        entry = methods.setdefault(labels["method"], {"requests": 0.0, "errors": 0.0})
        entry["requests"] += value
        if labels["code"] in SERVER_ERROR_CODES:
            entry["errors"] += value
    for labels, value in metrics.samples("colonnade_rpc_server_in_flight"):
        methods.setdefault(labels["method"], {"requests": 0.0, "errors": 0.0})["in_flight"] = value
    buckets: dict[str, list[tuple[float, float]]] = {}
    for labels, value in metrics.samples("colonnade_rpc_server_duration_seconds_bucket"):
        buckets.setdefault(labels["method"], []).append((float(labels["le"]), value))
    for method, series in buckets.items():
        if method in methods:
            methods[method]["p99_seconds"] = quantile_bound(series, 0.99)
    return methods


def quantile_bound(series: Sequence[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of cumulative ``(le, count)``."""
    ordered = sorted(series)
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    for bound, count in ordered:
        if count >= rank:
            return bound
    return ordered[-1][0]


Handler = Callable[[str], Awaitable[tuple[int, bytes, bytes]]]


async def serve_admin(host: str, port: int, handle: Handler) -> asyncio.base_events.Server:
    """A minimal HTTP/1.0-style GET server (one request per connection): enough for a
    Prometheus scrape, a health probe and the gateway's status page, off the request path."""

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            method, target = (parts[0], parts[1]) if len(parts) >= 2 else (b"", b"/")
            if method not in (b"GET", b"HEAD"):
                status, ctype, body = 405, b"text/plain", b"only GET\n"
            else:
                path = target.split(b"?", 1)[0].decode("latin-1")
                status, ctype, body = await handle(path)
            writer.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n"
                b"cache-control: no-store\r\nconnection: close\r\n\r\n"
                % (status, b"OK" if status == 200 else b"Error", ctype, len(body))
            )
            if method != b"HEAD":
                writer.write(body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port)


def exporters_of(raw: Sequence[str]) -> tuple[str, ...]:
    """The exporter list as a tuple without blanks."""
    return tuple(item.strip() for item in raw if item.strip())
