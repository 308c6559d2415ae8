"""The ``main()`` every service's console script shares: settings, logs, serve, exit code.

Exit codes: 0 after a graceful stop, 2 for a configuration error (a bad variable, or a
setting that does not fit what it meets at start-up: retrying cannot help), 1 when a
dependency cannot be reached at start-up.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from colonnade.runtime.logging import configure_logging
from colonnade.runtime.server import ServiceServer
from colonnade.runtime.settings import Settings, SettingsError

S = TypeVar("S")

log = logging.getLogger("colonnade.main")


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop when it is installed (it is on Linux and macOS)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main)
    else:
        uvloop.run(main)


def run_service(
    program: str,
    read_settings: Callable[[], S],
    runtime_settings: Callable[[S], Settings],
    create_server: Callable[[S], Coroutine[Any, Any, tuple[ServiceServer, int]]],
) -> int:
    """Read settings, configure JSON logs, serve until SIGTERM; the process's exit code."""
    try:
        settings = read_settings()
    except SettingsError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 2
    runtime = runtime_settings(settings)
    configure_logging(runtime.service_name, runtime.log_level)

    async def serve() -> None:
        server, port = await create_server(settings)
        log.info(
            "%s listening", runtime.service_name, extra={"address": f"{runtime.grpc_host}:{port}"}
        )
        await server.serve_until_signal()

    try:
        run_event_loop(serve())
    except SettingsError as exc:  # a configuration error met at start-up: retrying cannot help
        log.error("cannot start, configuration error: %s", exc)
        return 2
    except ConnectionError as exc:
        log.error("cannot start: %s", exc)
        return 1
    return 0
