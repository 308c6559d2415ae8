"""Metrics and spans for asyncpg: every SQL statement, every wait for a connection.

asyncpg has no hooks that run inside the caller's context around a statement (its query
loggers are called later, from the event loop), so the pool's connection class overrides
the five statement methods the repositories use (``execute``, ``executemany``, ``fetch``,
``fetchrow``, ``fetchval``): each is timed into ``colonnade_db_query_duration_seconds`` and,
in a sampled request, gets a CLIENT span named after the statement's first keyword with the
parameterised SQL (never the values) as ``db.statement``. asyncpg's public methods call
private ones (``_execute``), never each other, so nothing is counted twice; a transaction's
``BEGIN``/``COMMIT`` go through ``execute`` and are counted as the round trips they are.

:class:`ObservedPool` is the service's pool (:class:`~colonnade.runtime.dbpool.HoldingPool`)
with its :class:`Observability` attached, so :func:`colonnade.runtime.db.run_on_pool` can time
the acquisition and count those that found a full pool with no idle connection
(``colonnade_db_pool_exhausted_total``).
"""

from __future__ import annotations

import time
from typing import Any

from colonnade.runtime.dbpool import HoldingPool
from colonnade.runtime.observability import Observability
from colonnade.runtime.tracing import SpanKind, end_span


class ObservedPool(HoldingPool):
    """A :class:`HoldingPool` that knows where to report."""

    __slots__ = ("observability",)

    def __init__(self, *args: Any, observability: Observability, **kwargs: Any) -> None:
        self.observability = observability
        super().__init__(*args, **kwargs)


def observed_connection_class(base: type[Any], observability: Observability) -> type[Any]:
    """A subclass of ``base`` (an ``asyncpg.Connection``) reporting to ``observability``."""
    metrics = observability.metrics
    tracing = observability.tracing

    async def _run(operation: str, query: str, call: Any) -> Any:
        span = tracing.child(
            _span_name(query),
            SpanKind.CLIENT,
            {"db.system": "postgresql", "db.operation": operation, "db.statement": query},
        )
        started = time.perf_counter()
        failed = True
        try:
            result = await call
            failed = False
            return result
        finally:
            metrics.db_query(operation, time.perf_counter() - started, failed)
            if span is not None:
                end_span(span, "statement failed" if failed else None)

    class ObservedConnection(base):  # type: ignore[misc]
        async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
            return await _run("execute", query, super().execute(query, *args, **kwargs))

        async def executemany(self, command: str, args: Any, **kwargs: Any) -> Any:
            return await _run("executemany", command, super().executemany(command, args, **kwargs))

        async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
            return await _run("fetch", query, super().fetch(query, *args, **kwargs))

        async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
            return await _run("fetchrow", query, super().fetchrow(query, *args, **kwargs))

        async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
            return await _run("fetchval", query, super().fetchval(query, *args, **kwargs))

    return ObservedConnection


def _span_name(query: str) -> str:
    words = query.split(None, 2)
    first = words[0].upper() if words else "SQL"
    if first == "WITH" or not first.isalpha():
        return "SQL"
    return first


def acquisition_started(pool: Any) -> tuple[Observability | None, float, bool]:
    """Before ``pool.acquire()``: where to report, when, and whether the pool is exhausted."""
    if not isinstance(pool, ObservedPool):
        return None, 0.0, False
    exhausted = pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size()
    return pool.observability, time.perf_counter(), exhausted


def acquisition_done(obs: Observability, started: float, exhausted: bool) -> None:
    """After the connection arrived."""
    obs.metrics.db_acquired(time.perf_counter() - started, exhausted)
