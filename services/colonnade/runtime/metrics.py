"""RED and saturation metrics of one process, in one prometheus-client registry.

Every server (and the gateway) owns a :class:`Metrics`: its own registry, so two services
started in one test process never mix their counts. The hot path pays for a
dictionary lookup of a label set's child and an ``inc``/``observe`` on it (about 3 µs for a
call's four updates, against 36 µs for the same with OpenTelemetry's metrics SDK: BUILD.md);
what is cheap to read when asked (pool sizes, cache state, process CPU and memory) is read
at collection time by collectors, never on a request.

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

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
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


class _Children:
    """Label children of one metric family, created once per label set (``labels()`` is
    ~1.5 µs; a dict lookup ~50 ns)."""

    __slots__ = ("_children", "_family")

    def __init__(self, family: Any) -> None:
        self._family = family
        self._children: dict[tuple[str, ...], Any] = {}

    def get(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._family.labels(*labels)
        return child


class Metrics:
    """The metric families of one process (or one in-process server in tests)."""

    def __init__(self, service: str, *, process: bool = True) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)
        self.rpc_requests = Counter(
            "colonnade_rpc_server_requests",
            "gRPC calls served, by method and status code.",
            ["service", "method", "code"],
            registry=r,
        )
        self.rpc_duration = Histogram(
            "colonnade_rpc_server_duration_seconds",
            "gRPC call latency as served (handler plus interceptor).",
            ["service", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rpc_in_flight = Gauge(
            "colonnade_rpc_server_in_flight",
            "gRPC calls being served now.",
            ["service", "method"],
            registry=r,
        )
        self.client_requests = Counter(
            "colonnade_rpc_client_requests",
            "Internal gRPC client calls, by target, method and status code.",
            ["service", "target", "method", "code"],
            registry=r,
        )
        self.client_duration = Histogram(
            "colonnade_rpc_client_duration_seconds",
            "Internal gRPC client call latency (retries included).",
            ["service", "target", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter(
            "colonnade_http_requests",
            "Gateway HTTP requests, by route template, HTTP method and status.",
            ["service", "route", "method", "code"],
            registry=r,
        )
        self.http_duration = Histogram(
            "colonnade_http_request_duration_seconds",
            "Gateway request latency, until the response (or a stream's end) is sent.",
            ["service", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "colonnade_http_in_flight",
            "Gateway requests being served now.",
            ["service"],
            registry=r,
        )
        self.db_query_duration = Histogram(
            "colonnade_db_query_duration_seconds",
            "SQL statement latency, by asyncpg operation (fetch, fetchrow, execute…).",
            ["service", "operation"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.db_query_errors = Counter(
            "colonnade_db_query_errors",
            "SQL statements that raised.",
            ["service", "operation"],
            registry=r,
        )
        self.db_acquire_duration = Histogram(
            "colonnade_db_pool_acquire_duration_seconds",
            "Time to get a connection from the pool.",
            ["service"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.db_pool_exhausted = Counter(
            "colonnade_db_pool_exhausted",
            "Acquisitions that found every connection of a full-size pool in use (and waited).",
            ["service"],
            registry=r,
        )
        self.cache_requests = Counter(
            "colonnade_cache_requests",
            "Read-through cache lookups by result (hit, miss).",
            ["service", "result"],
            registry=r,
        )
        self.cache_duration = Histogram(
            "colonnade_cache_command_duration_seconds",
            "memcached command latency, by command.",
            ["service", "command"],
            buckets=QUERY_BUCKETS,
            registry=r,
        )
        self.cache_errors = Counter(
            "colonnade_cache_errors",
            "memcached commands that failed or timed out (the node is then marked down).",
            ["service", "command"],
            registry=r,
        )
        self._state = _StateCollector(service)
        r.register(self._state)
        s = service
        # Per-label-set children, resolved once (the hot path's only cost is the dict lookup).
        self._rpc_in_flight = _Children(self.rpc_in_flight)
        self._rpc_duration = _Children(self.rpc_duration)
        self._rpc_requests = _Children(self.rpc_requests)
        self._client_duration = _Children(self.client_duration)
        self._client_requests = _Children(self.client_requests)
        self._http_duration = _Children(self.http_duration)
        self._http_requests = _Children(self.http_requests)
        self.http_in_flight_child = self.http_in_flight.labels(s)
        self._db_query = _Children(self.db_query_duration)
        self._db_errors = _Children(self.db_query_errors)
        self.db_acquire_child = self.db_acquire_duration.labels(s)
        self.db_exhausted_child = self.db_pool_exhausted.labels(s)
        self.cache_hit_child = self.cache_requests.labels(s, "hit")
        self.cache_miss_child = self.cache_requests.labels(s, "miss")
        self._cache_duration = _Children(self.cache_duration)
        self._cache_errors = _Children(self.cache_errors)

    # -- state read at collection time --------------------------------------------------------

    def watch_pool(self, pool: PoolLike) -> None:
        """Report ``pool``'s idle, in-use and max connections."""
        self._state.pools.append(pool)

    def watch_cache(self, cache: CacheLike) -> None:
        """Report whether ``cache`` is degraded, and for how long it has been."""
        self._state.caches.append(cache)

    # -- hot-path helpers ---------------------------------------------------------------------

    def rpc_started(self, method: str) -> Any:
        """Count a call in flight; returns the in-flight child to decrement."""
        gauge = self._rpc_in_flight.get(self.service, method)
        gauge.inc()
        return gauge

    def rpc_finished(self, method: str, code: str, seconds: float) -> None:
        self._rpc_duration.get(self.service, method).observe(seconds)
        self._rpc_requests.get(self.service, method, code).inc()

    def client_call(self, target: str, method: str, code: str, seconds: float) -> None:
        self._client_duration.get(self.service, target, method).observe(seconds)
        self._client_requests.get(self.service, target, method, code).inc()

    def http_request(self, route: str, method: str, code: str, seconds: float) -> None:
        self._http_duration.get(self.service, route, method).observe(seconds)
        self._http_requests.get(self.service, route, method, code).inc()

    def db_query(self, operation: str, seconds: float, failed: bool) -> None:
        self._db_query.get(self.service, operation).observe(seconds)
        if failed:
            self._db_errors.get(self.service, operation).inc()

    def cache_command(self, command: str, seconds: float, failed: bool) -> None:
        self._cache_duration.get(self.service, command).observe(seconds)
        if failed:
            self._cache_errors.get(self.service, command).inc()

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


def timer() -> Callable[[], float]:
    """A stopwatch: ``elapsed = timer(); …; seconds = elapsed()``."""
    started = time.perf_counter()
    return lambda: time.perf_counter() - started
