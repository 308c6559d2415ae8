"""CloudWatch Embedded Metric Format: the registry's deltas as JSON log lines.

In AWS the tasks' stdout already goes to CloudWatch Logs (the awslogs driver); a line with
an ``_aws`` member is turned into CloudWatch metrics by the service itself, so no agent or
collector has to run for metrics (BUILD.md: why EMF rather than an ADOT sidecar for them).
Every ``METRICS_EMF_INTERVAL`` (60 s in AWS, off locally) :class:`EmfEmitter` writes one
line per dimension set with what changed since the last line: counts as deltas, latency
histograms as ``Values``/``Counts`` arrays (one value per non-empty bucket: its midpoint),
the form the ADOT ``awsemf`` exporter writes and from which CloudWatch computes
percentiles (``p99``), gauges as their current value.

The CloudWatch names (namespace ``METRICS_NAMESPACE``, default ``Colonnade``) are listed in
:data:`CLOUDWATCH_METRICS`; the observability module's dashboard and alarms use only these
(a test reads the dashboard JSON and checks every name against what this module writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import orjson

from colonnade.runtime.metrics import Metrics

log = logging.getLogger("colonnade.metrics")

#: gRPC codes that count as the service's errors (the caller's mistakes do not).
SERVER_ERROR_CODES = frozenset(
    {"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "DATA_LOSS", "UNIMPLEMENTED"}
)

#: CloudWatch metric name → (unit, dimension names). What the dashboard may reference.
CLOUDWATCH_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "rpc_server_requests": ("Count", ("Service", "Method")),
    "rpc_server_errors": ("Count", ("Service", "Method")),
    "rpc_server_duration_seconds": ("Seconds", ("Service", "Method")),
    "rpc_client_requests": ("Count", ("Service", "Target")),
    "rpc_client_errors": ("Count", ("Service", "Target")),
    "http_requests": ("Count", ("Service", "Route")),
    "http_errors": ("Count", ("Service", "Route")),
    "http_request_duration_seconds": ("Seconds", ("Service", "Route")),
    "db_query_duration_seconds": ("Seconds", ("Service",)),
    "db_pool_in_use": ("Count", ("Service",)),
    "db_pool_max": ("Count", ("Service",)),
    "db_pool_exhausted": ("Count", ("Service",)),
    "cache_hits": ("Count", ("Service",)),
    "cache_misses": ("Count", ("Service",)),
    "cache_errors": ("Count", ("Service",)),
    "cache_degraded": ("None", ("Service",)),
}

Key = tuple[str, tuple[tuple[str, str], ...]]


class _Histogram:
    """Cumulative bucket counts (Prometheus style), summed over the label sets merged."""

    __slots__ = ("cumulative",)

    def __init__(self) -> None:
        self.cumulative: dict[float, float] = defaultdict(float)


class EmfEmitter:
    """Turns a :class:`Metrics` registry into EMF documents of what changed."""

    def __init__(
        self,
        metrics: Metrics,
        namespace: str = "Colonnade",
        write: Callable[[str], Any] | None = None,
    ) -> None:
        self.metrics = metrics
        self.namespace = namespace
        self._write = write
        self._last: dict[Key, float] = {}
        self._last_hist: dict[Key, list[float]] = {}
        self._task: asyncio.Task[None] | None = None

    # -- reading the registry -----------------------------------------------------------------

    def _delta(self, key: Key, value: float) -> float:
        previous = self._last.get(key, 0.0)
        self._last[key] = value
        return max(value - previous, 0.0)  # a reset (new process) starts from zero

    def documents(self, timestamp_ms: int | None = None) -> list[dict[str, Any]]:
        """The EMF documents for the interval since the last call (empty groups omitted)."""
        ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = defaultdict(dict)
        dims: tuple[tuple[str, str], ...]
        hists: dict[tuple[str, tuple[tuple[str, str], ...]], _Histogram] = {}
        service = self.metrics.service
        pool: dict[str, float] = {}
        for family in self.metrics.registry.collect():
            for s in family.samples:
                labels = s.labels
                name = s.name
                if name == "colonnade_rpc_server_requests_total":
                    dims = (("Service", service), ("Method", labels["method"]))
                    d = self._delta((name, tuple(sorted(labels.items()))), s.value)
                    _add(groups[dims], "rpc_server_requests", d)
                    err = d if labels["code"] in SERVER_ERROR_CODES else 0.0
                    _add(groups[dims], "rpc_server_errors", err)
                elif name == "colonnade_rpc_client_requests_total":
                    dims = (("Service", service), ("Target", labels["target"]))
                    d = self._delta((name, tuple(sorted(labels.items()))), s.value)
                    _add(groups[dims], "rpc_client_requests", d)
                    err = d if labels["code"] in SERVER_ERROR_CODES else 0.0
                    _add(groups[dims], "rpc_client_errors", err)
                elif name == "colonnade_http_requests_total":
                    route = f"{labels['method']} {labels['route']}"
                    dims = (("Service", service), ("Route", route))
                    d = self._delta((name, tuple(sorted(labels.items()))), s.value)
                    _add(groups[dims], "http_requests", d)
                    _add(groups[dims], "http_errors", d if labels["code"][:1] == "5" else 0.0)
                elif name.endswith("_bucket") and name in _HISTOGRAMS:
                    target, dim_of = _HISTOGRAMS[name]
                    dims = (("Service", service), *dim_of(labels))
                    h = hists.setdefault((target, dims), _Histogram())
                    h.cumulative[float(labels["le"])] += s.value
                elif name == "colonnade_db_pool_exhausted_total":
                    d = self._delta((name, ()), s.value)
                    _add(groups[(("Service", service),)], "db_pool_exhausted", d)
                elif name == "colonnade_db_pool_connections":
                    pool[labels["state"]] = s.value
                elif name == "colonnade_cache_requests_total":
                    d = self._delta((name, (("result", labels["result"]),)), s.value)
                    metric = "cache_hits" if labels["result"] == "hit" else "cache_misses"
                    _add(groups[(("Service", service),)], metric, d)
                elif name == "colonnade_cache_errors_total":
                    d = self._delta((name, tuple(sorted(labels.items()))), s.value)
                    _add(groups[(("Service", service),)], "cache_errors", d)
                elif name == "colonnade_cache_degraded":
                    groups[(("Service", service),)]["cache_degraded"] = s.value
        if pool:
            svc = groups[(("Service", service),)]
            svc["db_pool_in_use"] = pool.get("in_use", 0.0)
            svc["db_pool_max"] = pool.get("max", 0.0)
        for (target, dims), h in hists.items():
            value = self._histogram_delta((target, dims), h)
            if value is not None:
                groups[dims][target] = value
        return [self._document(dict(dims), values, ts) for dims, values in groups.items() if values]

    def _histogram_delta(self, key: Key, h: _Histogram) -> dict[str, Any] | None:
        bounds = sorted(h.cumulative)
        now = [h.cumulative[b] for b in bounds]
        previous = self._last_hist.get(key)
        self._last_hist[key] = now
        same = previous is not None and len(previous) == len(now)
        cumulative = (
            [a - b for a, b in zip(now, previous, strict=True)] if same and previous else now
        )
        values: list[float] = []
        counts: list[float] = []
        below = 0.0
        lower = 0.0
        minimum = maximum = None
        for bound, cum in zip(bounds, cumulative, strict=True):
            in_bucket = cum - below
            below = cum
            if in_bucket > 0:
                upper = bound if math.isfinite(bound) else lower
                values.append((lower + upper) / 2 if math.isfinite(bound) else lower)
                counts.append(in_bucket)
                minimum = lower if minimum is None else minimum
                maximum = upper
            if math.isfinite(bound):
                lower = bound
        if not counts:
            return None
        total = sum(counts)
        return {
            "Values": values,
            "Counts": counts,
            "Min": minimum,
            "Max": maximum,
            "Count": total,
            "Sum": sum(v * c for v, c in zip(values, counts, strict=True)),
        }

    def _document(self, dims: dict[str, str], values: dict[str, Any], ts: int) -> dict[str, Any]:
        names = sorted(values)
        doc: dict[str, Any] = {
            "_aws": {
                "Timestamp": ts,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self.namespace,
                        # Per method (route) and, aggregated by CloudWatch, per service.
                        "Dimensions": [list(dims), *([["Service"]] if len(dims) > 1 else [])],
                        "Metrics": [{"Name": n, "Unit": CLOUDWATCH_METRICS[n][0]} for n in names],
                    }
                ],
            },
            **dims,
        }
        for n in names:
            doc[n] = values[n]
        return doc

    # -- writing ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Write the current interval's documents, one JSON line each; returns how many."""
        docs = self.documents()
        write = self._write or sys.stdout.write
        for doc in docs:
            write(orjson.dumps(doc).decode() + "\n")
        if self._write is None:
            sys.stdout.flush()
        return len(docs)

    def start(self, interval: float) -> None:
        """Flush every ``interval`` seconds until :meth:`stop` (which flushes once more)."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    self.flush()
                except Exception:
                    log.exception("writing EMF metrics failed")

        self.documents()  # the baseline: the first line reports the first interval only
        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self.flush()


def _add(group: dict[str, Any], name: str, value: float) -> None:
    group[name] = group.get(name, 0.0) + value


def _method_dim(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Method", labels["method"]),)


def _route_dim(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return (("Route", f"{labels['method']} {labels['route']}"),)


def _no_dim(_labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return ()


_HISTOGRAMS: dict[str, tuple[str, Callable[[dict[str, str]], tuple[tuple[str, str], ...]]]] = {
    "colonnade_rpc_server_duration_seconds_bucket": ("rpc_server_duration_seconds", _method_dim),
    "colonnade_http_request_duration_seconds_bucket": (
        "http_request_duration_seconds",
        _route_dim,
    ),
    "colonnade_db_query_duration_seconds_bucket": ("db_query_duration_seconds", _no_dim),
}
