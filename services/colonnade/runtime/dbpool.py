"""asyncpg's pool with a few connections kept lent between calls: a list pop per statement.

Measured on this repository's bench machine, asyncpg's ``Pool.acquire`` and ``release`` cost
more CPU than the query they wrap (about 80-100 µs against 70 µs for ``GetProduct``'s
``SELECT`` on a held connection): a queue, a proxy object, a future, an inactivity timer
re-armed per call and a ``shield``-ed task per release. :class:`HoldingPool` keeps up to
``hold`` connections acquired from the pool when a call hands them back in good order, and
lends them to the next call without any of that. It is still asyncpg's pool: connections are
made, counted, limited, reset, recycled and closed by it. A call that finds no held connection
acquires one the ordinary way, and while one waits there none is kept back. A call that fails
(any exception: a broken connection, a cancelled transaction) releases its connection to the
pool as before, so the pool's checks run on it.

``hold`` is the pool's ``min_size`` (``DB_POOL_MIN``): the connections kept are ones the pool
would keep open anyway, so ``DB_POOL_MIN=0`` (let an idle task hold no connection) still means
none. Held connections count as idle for :meth:`get_idle_size` (the pool gauges and the
"exhausted" count), and :meth:`close` hands them back before closing.
"""

from __future__ import annotations

from typing import Any

import asyncpg


class HoldingPool(asyncpg.Pool):  # type: ignore[misc]
    """An ``asyncpg.Pool`` that keeps up to ``hold`` acquired connections for the next call."""

    __slots__ = ("_held", "_hold", "_waiting")

    def __init__(self, *args: Any, hold: int, **kwargs: Any) -> None:
        self._held: list[Any] = []
        self._hold = max(0, hold)
        self._waiting = 0  # calls in acquire_one()
        super().__init__(*args, **kwargs)

    def lend(self) -> Any | None:
        """A held connection (already acquired), or ``None``: then :meth:`acquire_one`."""
        held = self._held
        return held.pop() if held else None

    async def acquire_one(self) -> Any:
        """A connection from the pool, the ordinary way (it may wait for one)."""
        self._waiting += 1
        try:
            return await self.acquire()
        finally:
            self._waiting -= 1

    def keep(self, conn: Any) -> bool:
        """After a call that succeeded: keep ``conn`` for the next one (True), or not (False:
        the caller releases it).

        Never kept while another call waits in :meth:`acquire_one`: with every connection
        held or lent, that call would wait for ever (a pool of one under concurrent calls).
        """
        if (
            len(self._held) < self._hold
            and not self._waiting
            and not self._closing
            and not conn.is_closed()
        ):
            self._held.append(conn)
            return True
        return False

    async def give_back(self, conn: Any) -> None:
        """:meth:`keep` ``conn``, or release it."""
        if not self.keep(conn):
            await self.release(conn)

    def get_idle_size(self) -> int:
        return int(super().get_idle_size()) + len(self._held)

    async def release_held(self) -> None:
        """Hand every held connection back to the pool."""
        held, self._held = self._held, []
        for conn in held:
            await self.release(conn)

    async def close(self) -> None:
        self._hold = 0  # a call that finishes meanwhile releases its connection
        await self.release_held()
        await super().close()

    def terminate(self) -> None:
        self._hold, self._held = 0, []
        super().terminate()
