"""Background work on a timer (expiry sweeps, recovery passes), stopped with the server.

:func:`start_periodic` runs a coroutine function every ``interval`` seconds in a task of
its own and returns the cleanup that stops it, ready for ``ServiceServer.add_cleanup``.
A failing run is logged and the next one runs on time: background work must never take
the service down, and an outage (database unavailable) usually passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from colonnade.runtime.errors import DomainError

log = logging.getLogger("colonnade.periodic")


def start_periodic(
    name: str, interval: float, work: Callable[[], Awaitable[object]], *, first_delay: float = 0.0
) -> Callable[[], Awaitable[None]]:
    """Run ``work()`` every ``interval`` seconds (the first after ``first_delay``).

    Returns an async function that cancels the task and waits for it to end.
    """

    async def loop() -> None:
        await asyncio.sleep(first_delay)
        while True:
            try:
                await work()
            except DomainError as exc:  # an outage: say so briefly, try again next time
                log.warning("%s failed: %s", name, exc.message, extra={"reason": exc.reason})
            except Exception:
                log.exception("%s failed", name)
            await asyncio.sleep(interval)

    task = asyncio.get_running_loop().create_task(loop(), name=name)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
