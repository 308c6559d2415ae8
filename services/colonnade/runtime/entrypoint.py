"""The ``main()`` every service's console script shares: settings, logs, serve, exit code.

Exit codes: 0 after a graceful stop, 2 for a configuration error (a bad variable, or a
setting that does not fit what it meets at start-up: retrying cannot help), 1 when a
dependency cannot be reached at start-up.

With ``WORKERS=N`` (N > 1) the process started is a supervisor: it runs its own command line
N times with ``WORKER_INDEX`` set (0…N-1). Each worker is a whole service (its own event
loop, database pool and cache clients) listening on the same ``GRPC_PORT`` with
``SO_REUSEPORT``, so the kernel spreads connections over them and a task uses all its
vCPUs. SIGTERM or SIGINT to the supervisor goes to every worker, which drains as one
process would (NOT_SERVING, ``SHUTDOWN_DELAY_SECONDS``, then ``SHUTDOWN_GRACE_SECONDS``);
the supervisor exits when all have, with the worst exit code. A worker that exits on its
own stops the others: the orchestrator then replaces the whole task, rather than leaving
it serving at part of its capacity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
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
    if runtime.workers > 1 and runtime.worker_index < 0:
        return supervise(runtime.workers, [sys.executable, *sys.orig_argv[1:]])

    async def serve() -> None:
        server, port = await create_server(settings)
        log.info(
            "%s listening",
            runtime.service_name,
            extra={
                "address": f"{runtime.grpc_host}:{port}",
                "pid": os.getpid(),
                "worker": max(0, runtime.worker_index),
            },
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


def _stop_with_parent() -> None:
    """In a worker before it runs (Linux): SIGTERM when the supervisor dies, so a supervisor
    killed outright (SIGKILL) does not leave workers holding the port."""
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def supervise(workers: int, command: list[str]) -> int:
    """Run ``command`` as ``workers`` processes (``WORKER_INDEX`` 0…N-1) until they end.

    SIGTERM and SIGINT are passed on to every worker; a worker ending by itself makes the
    others stop. Returns the worst exit code (1 for a worker killed by a signal other than
    the one passed on).
    """
    procs: dict[int, subprocess.Popen[bytes]] = {}
    stopping: list[int] = []  # the signal being passed on, once one came

    def stop_all(signum: int) -> None:
        for pid in list(procs):
            # os.kill, not Popen.send_signal: that polls, and could reap a worker os.wait awaits.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def forward(signum: int, _frame: object) -> None:
        if not stopping:
            stopping.append(signum)
        stop_all(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for index in range(workers):
            proc = subprocess.Popen(
                command,
                env={**os.environ, "WORKER_INDEX": str(index)},
                # Its own process group: a terminal's Ctrl-C reaches the supervisor alone,
                # which passes it on once (twice would interrupt a worker's drain).
                process_group=0,
                preexec_fn=_stop_with_parent,
            )
            procs[proc.pid] = proc
            if stopping:
                stop_all(stopping[0])
        log.info("workers started", extra={"workers": workers, "pids": sorted(procs)})
        while procs:
            try:
                pid, status = os.wait()
            except ChildProcessError:  # pragma: no cover - every worker was reaped elsewhere
                break
            if pid not in procs:
                continue
            proc = procs.pop(pid)
            proc.returncode = raw = os.waitstatus_to_exitcode(status)
            # Killed by a signal: fine if it is the one passed on, else a failure.
            returned = raw if raw >= 0 else 0 if stopping and raw == -stopping[0] else 1
            code = max(code, returned)
            if not stopping:
                log.error(
                    "worker %d exited with %d: stopping the others",
                    pid,
                    raw,
                    extra={"pid": pid, "exit_code": raw},
                )
                code = max(code, 1)
                stopping.append(signal.SIGTERM)
                stop_all(signal.SIGTERM)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
