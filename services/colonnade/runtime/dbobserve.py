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
    """A subclass of ``base`` (an ``asyncpg.Connection``) reporting to ``observability``.

    Each statement method is one coroutine around asyncpg's (not a second one to time it):
    it reads the clock twice and adds to its operation's histogram series, bound once; the
    span's name and attributes are built only when the current span records.
    """
    metrics = observability.metrics
    tracing = observability.tracing

    async def traced(operation: str, call: Any, span: Any) -> Any:
        started = time.perf_counter()
        failed = True
        try:
            result = await call
            failed = False
            return result
        finally:
            metrics.db_query(operation, time.perf_counter() - started, failed)
            end_span(span, "statement failed" if failed else None)

    def observed(operation: str) -> Any:
        plain = getattr(base, operation)  # what super() would find: base is the parent
        timed = metrics.db_query_duration.bind((operation,))
        clock = time.perf_counter

        async def method(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if tracing.enabled and tracing.recording():
                span = tracing.child(
                    _span_name(query),
                    SpanKind.CLIENT,
                    {"db.system": "postgresql", "db.operation": operation, "db.statement": query},
                )
                if span is not None:
                    return await traced(operation, plain(self, query, *args, **kwargs), span)
            started = clock()
            try:
                result = await plain(self, query, *args, **kwargs)
            except BaseException:
                metrics.db_query(operation, clock() - started, True)
                raise
            timed(clock() - started)
            return result

        method.__name__ = operation
        method.__qualname__ = f"ObservedConnection.{operation}"
        return method

    class ObservedConnection(base):  # type: ignore[misc]
        execute = observed("execute")
        executemany = observed("executemany")
        fetch = observed("fetch")
        fetchrow = observed("fetchrow")
        fetchval = observed("fetchval")

    return ObservedConnection


def _span_name(query: str) -> str:
    words = query.split(None, 2)
    first = words[0].upper() if words else "SQL"
    if first == "WITH" or not first.isalpha():
        return "SQL"
    return first


def pool_exhausted(pool: Any) -> bool:
    """Whether an acquisition now finds a full-size pool with no idle connection."""
    return bool(pool.get_idle_size() == 0 and pool.get_size() >= pool.get_max_size())
