"""RED and saturation metrics of one process, in one prometheus-client registry.

Every server (and the gateway) owns a :class:`Metrics`: its own registry, so two services
started in one test process never mix their counts. On the hot path a request costs a few
dictionary updates of plain numbers (about 1 µs for a counter and a histogram, against
~6 µs with prometheus-client's locked instruments and ~36 µs for a call's four updates with
OpenTelemetry's metrics SDK: BUILD.md); prometheus-client renders them (``/metrics``) with
the process collector. What is cheap to read when asked (pool sizes, cache state, process
CPU and memory) is read at collection time, never on a request.

Names (Prometheus text on ``/metrics``; the EMF lines CloudWatch reads use the same ones,
:mod:`colonnade.runtime.emf`):

==============================================  ================================================
``colonnade_rpc_server_requests_total``          calls served, by service, method and gRPC code
``colonnade_rpc_server_duration_seconds``        their latency (histogram: LATENCY_BUCKETS)
``colonnade_rpc_server_in_flight``               calls being served now
``colonnade_rpc_client_requests_total``          internal client calls, by target, method and code
``colonnade_rpc_client_duration_seconds``        their latency
``colonnade_http_requests_total``                gateway requests, by route, HTTP method and status
``colonnade_http_request_duration_seconds``      their latency
``colonnade_http_in_flight``                     gateway requests being served now
``colonnade_db_query_duration_seconds``          SQL statements (histogram: QUERY_BUCKETS)
``colonnade_db_query_errors_total``              SQL statements that raised
``colonnade_db_pool_acquire_duration_seconds``   waits for a pooled connection
``colonnade_db_pool_exhausted_total``            acquisitions finding every connection in use
``colonnade_db_pool_connections``                pool connections by state (idle, in_use) and max
``colonnade_cache_requests_total``               read-through lookups by result (hit, miss)
``colonnade_cache_command_duration_seconds``     memcached commands
``colonnade_cache_errors_total``                 memcached commands that failed (node marked down)
``colonnade_cache_degraded``                     1 while a memcached node is down, else 0
``colonnade_cache_degraded_seconds_total``       time spent degraded
``process_*``                                    CPU seconds, resident memory, open files
==============================================  ================================================
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# `_created` samples double every counter's exposition and no dashboard of ours reads them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: Seconds. Request latencies: sub-millisecond cache hits up to the 30 s default deadline.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
#: Seconds. SQL statements and memcached commands: a loopback round trip is ~50-100 µs.
QUERY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
    5.0,
)


class PoolLike(Protocol):
    """What the pool collector reads of an ``asyncpg.Pool``."""

    def get_size(self) -> int: ...
    def get_idle_size(self) -> int: ...
    def get_max_size(self) -> int: ...


class CacheLike(Protocol):
    """What the cache collector reads of a :class:`~colonnade.runtime.cachecluster.CacheCluster`."""

    @property
    def degraded(self) -> bool: ...

    def degraded_seconds(self) -> float: ...


class _StateCollector(Collector):
    """Reads pool and cache state when metrics are collected (never on a request)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.pools: list[PoolLike] = []
        self.caches: list[CacheLike] = []

    def collect(self) -> Iterable[Metric]:
        if self.pools:
            conns = GaugeMetricFamily(
                "colonnade_db_pool_connections",
                "Database pool connections by state (idle, in_use) and the pool's max.",
                labels=["service", "state"],
            )
            idle = in_use = maximum = 0
            for pool in self.pools:
                size, free = pool.get_size(), pool.get_idle_size()
                idle += free
                in_use += size - free
                maximum += pool.get_max_size()
            conns.add_metric([self.service, "idle"], idle)
            conns.add_metric([self.service, "in_use"], in_use)
            conns.add_metric([self.service, "max"], maximum)
            yield conns
        if self.caches:
            degraded = GaugeMetricFamily(
                "colonnade_cache_degraded",
                "1 while a memcached node is down (its keys are read from the database).",
                labels=["service"],
            )
            degraded.add_metric(
                [self.service], 1.0 if any(c.degraded for c in self.caches) else 0.0
            )
            yield degraded
            seconds = CounterMetricFamily(
                "colonnade_cache_degraded_seconds",
                "Seconds during which a memcached node was down.",
                labels=["service"],
            )
            seconds.add_metric([self.service], sum(c.degraded_seconds() for c in self.caches))
            yield seconds


class _Counts:
    """A counter family kept as plain numbers: label values (without ``service``) → count.

    Updated only on the event loop's thread (the server's and the gateway's hot paths), read
    by the collector on that same thread (the admin server, the EMF writer, the status page),
    so it needs no lock: prometheus-client's own instruments take one per update (with the
    bucket search, ~6 µs for a request's counter and histogram against ~1 µs here).
    """

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def family(self, service: str, gauge: bool = False) -> Metric:
        cls = GaugeMetricFamily if gauge else CounterMetricFamily
        out = cls(self.name, self.doc, labels=["service", *self.labels])
        for key, value in list(self.values.items()):
            out.add_metric([service, *key], value)
        return out


class _Latencies:
    """A histogram family kept as plain numbers: label values → bucket counts and sum."""

    __slots__ = ("bounds", "doc", "labels", "name", "series")

    def __init__(
        self, name: str, doc: str, labels: tuple[str, ...], bounds: tuple[float, ...]
    ) -> None:
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, bounds
        #: per label set: a count per bucket (the last is +Inf), then the sum of the values
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.bounds) + 2)
        # Prometheus buckets are "less than or equal": bisect_left finds the first bound ≥ value.
        series[bisect_left(self.bounds, value)] += 1
        series[-1] += value

    def bind(self, key: tuple[str, ...]) -> Callable[[float], None]:
        """``observe`` for one label set, without the per-call lookups (a hot path's own).

        The series is made on the first observation, as :meth:`observe` makes it."""
        bounds, all_series, size = self.bounds, self.series, len(self.bounds) + 2
        bound: list[float] | None = None

        def observe(value: float) -> None:
            nonlocal bound
            series = bound
            if series is None:
                series = all_series.get(key)
                if series is None:
                    series = all_series[key] = [0.0] * size
                bound = series
            series[bisect_left(bounds, value)] += 1
            series[-1] += value

        return observe

    def family(self, service: str) -> Metric:
        out = HistogramMetricFamily(self.name, self.doc, labels=["service", *self.labels])
        edges = [*(_le(b) for b in self.bounds), "+Inf"]
        for key, series in list(self.series.items()):
            cumulative, buckets = 0.0, []
            for edge, count in zip(edges, series, strict=False):
                cumulative += count
                buckets.append((edge, cumulative))
            out.add_metric([service, *key], buckets, series[-1])
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


class _Families(Collector):
    """Exposes the plain-number families through the registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self.metrics
        for counter in m.counters:
            yield counter.family(m.service)
        for gauge in m.gauges:
            yield gauge.family(m.service, gauge=True)
        for histogram in m.histograms:
            yield histogram.family(m.service)


class RpcMeter:
    """One method's RED updates with its label keys made once (the server interceptor's):
    the same counts as :meth:`Metrics.rpc_started` and :meth:`Metrics.rpc_finished`."""

    __slots__ = ("_codes", "_in_flight", "_key", "_observe", "_requests")

    def __init__(self, metrics: Metrics, method: str) -> None:
        self._key = (method,)
        self._in_flight = metrics.rpc_in_flight
        self._observe = metrics.rpc_duration.bind(self._key)
        self._requests = metrics.rpc_requests
        self._codes: dict[str, tuple[str, str]] = {}

    def started(self) -> None:
        self._in_flight.inc(self._key)

    def finished(self, code: str, seconds: float) -> None:
        self._in_flight.inc(self._key, -1.0)
        self._observe(seconds)
        key = self._codes.get(code)
        if key is None:
            key = self._codes[code] = (self._key[0], code)
        self._requests.inc(key)


class Metrics:
    """The metric families of one process (or one in-process server in tests)."""

    def __init__(self, service: str, *, process: bool = True) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)
        C, H = _Counts, _Latencies
        self.rpc_requests = C(
            "colonnade_rpc_server_requests",
            "gRPC calls served, by method and status code.",
            ("method", "code"),
        )
        self.rpc_duration = H(
            "colonnade_rpc_server_duration_seconds",
            "gRPC call latency as served (handler plus interceptor).",
            ("method",),
            LATENCY_BUCKETS,
        )
        self.rpc_in_flight = C(
            "colonnade_rpc_server_in_flight", "gRPC calls being served now.", ("method",)
        )
        self.client_requests = C(
            "colonnade_rpc_client_requests",
            "Internal gRPC client calls, by target, method and status code.",
            ("target", "method", "code"),
        )
        self.client_duration = H(
            "colonnade_rpc_client_duration_seconds",
            "Internal gRPC client call latency (retries included).",
            ("target", "method"),
            LATENCY_BUCKETS,
        )
        self.http_requests = C(
            "colonnade_http_requests",
            "Gateway HTTP requests, by route template, HTTP method and status.",
            ("route", "method", "code"),
        )
        self.http_duration = H(
            "colonnade_http_request_duration_seconds",
            "Gateway request latency, until the response (or a stream's end) is sent.",
            ("route", "method"),
            LATENCY_BUCKETS,
        )
        self.http_in_flight = C(
            "colonnade_http_in_flight", "Gateway requests being served now.", ()
        )
        self.db_query_duration = H(
            "colonnade_db_query_duration_seconds",
            "SQL statement latency, by asyncpg operation (fetch, fetchrow, execute…).",
            ("operation",),
            QUERY_BUCKETS,
        )
        self.db_query_errors = C(
            "colonnade_db_query_errors", "SQL statements that raised.", ("operation",)
        )
        self.db_acquire_duration = H(
            "colonnade_db_pool_acquire_duration_seconds",
            "Time to get a connection from the pool.",
            (),
            QUERY_BUCKETS,
        )
        self.db_pool_exhausted = C(
            "colonnade_db_pool_exhausted",
            "Acquisitions that found every connection of a full-size pool in use (and waited).",
            (),
        )
        self.cache_requests = C(
            "colonnade_cache_requests",
            "Read-through cache lookups by result (hit, miss).",
            ("result",),
        )
        self.cache_duration = H(
            "colonnade_cache_command_duration_seconds",
            "memcached command latency, by command.",
            ("command",),
            QUERY_BUCKETS,
        )
        self.cache_errors = C(
            "colonnade_cache_errors",
            "memcached commands that failed or timed out (the node is then marked down).",
            ("command",),
        )
        # Reported from the start (as zero), so dashboards and EMF see them before they move.
        self.db_pool_exhausted.inc((), 0.0)
        self.cache_requests.inc(("hit",), 0.0)
        self.cache_requests.inc(("miss",), 0.0)
        self.http_in_flight.inc((), 0.0)
        self.counters = [
            self.rpc_requests,
            self.client_requests,
            self.http_requests,
            self.db_query_errors,
            self.db_pool_exhausted,
            self.cache_requests,
            self.cache_errors,
        ]
        self.gauges = [self.rpc_in_flight, self.http_in_flight]
        self.histograms = [
            self.rpc_duration,
            self.client_duration,
            self.http_duration,
            self.db_query_duration,
            self.db_acquire_duration,
            self.cache_duration,
        ]
        self.registry.register(_Families(self))
        self._state = _StateCollector(service)
        self.registry.register(self._state)

    # -- state read at collection time --------------------------------------------------------

    def watch_pool(self, pool: PoolLike) -> None:
        """Report ``pool``'s idle, in-use and max connections."""
        self._state.pools.append(pool)

    def watch_cache(self, cache: CacheLike) -> None:
        """Report whether ``cache`` is degraded, and for how long it has been."""
        self._state.caches.append(cache)

    # -- the hot path (event loop thread only) ------------------------------------------------

    def rpc_meter(self, method: str) -> RpcMeter:
        """:meth:`rpc_started` and :meth:`rpc_finished` for one method, keys bound once."""
        return RpcMeter(self, method)

    def rpc_started(self, method: str) -> None:
        """A call is in flight (until :meth:`rpc_finished`)."""
        self.rpc_in_flight.inc((method,))

    def rpc_finished(self, method: str, code: str, seconds: float) -> None:
        self.rpc_in_flight.inc((method,), -1.0)
        self.rpc_duration.observe((method,), seconds)
        self.rpc_requests.inc((method, code))

    def client_call(self, target: str, method: str, code: str, seconds: float) -> None:
        self.client_duration.observe((target, method), seconds)
        self.client_requests.inc((target, method, code))

    def http_started(self) -> None:
        """A gateway request is in flight (until :meth:`http_request`)."""
        self.http_in_flight.inc(())

    def http_request(self, route: str, method: str, code: str, seconds: float) -> None:
        self.http_in_flight.inc((), -1.0)
        self.http_duration.observe((route, method), seconds)
        self.http_requests.inc((route, method, code))

    def db_query(self, operation: str, seconds: float, failed: bool) -> None:
        self.db_query_duration.observe((operation,), seconds)
        if failed:
            self.db_query_errors.inc((operation,))

    def db_acquired(self, seconds: float, exhausted: bool) -> None:
        """A pooled connection arrived after ``seconds``; ``exhausted``: none was idle."""
        self.db_acquire_duration.observe((), seconds)
        if exhausted:
            self.db_pool_exhausted.inc(())

    def cache_lookup(self, hit: bool) -> None:
        self.cache_requests.inc(("hit",) if hit else ("miss",))

    def cache_command(self, command: str, seconds: float, failed: bool) -> None:
        self.cache_duration.observe((command,), seconds)
        if failed:
            self.cache_errors.inc((command,))

    # -- reading ------------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The registry in Prometheus text format (what ``/metrics`` answers)."""
        return prometheus_client.generate_latest(self.registry)

    def sample(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): for the status page and tests."""
        value = self.registry.get_sample_value(name, labels or None)
        return 0.0 if value is None else value

    def samples(self, name: str) -> Iterator[tuple[dict[str, str], float]]:
        """Every sample named ``name``, with its labels."""
        for family in self.registry.collect():
            for s in family.samples:
                if s.name == name:
                    yield s.labels, s.value
