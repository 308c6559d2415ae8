"""``make status``: each component of the running local stack, its health and its address.

    python -m colonnade_tools.devstack.status        (COLONNADE_STATE_DIR: which stack)

Reads ``.local/run.json`` (written by ``make run``) and probes every component: PostgreSQL
with its protocol's SSL request (any server answers ``S`` or ``N``), memcached with
``version``, the services with ``grpc.health.v1`` and the gateway and admin ports with an
HTTP GET. Exit 0 when every component is healthy, 1 when one is not, 3 when no stack runs.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from colonnade.runtime.healthcheck import check_grpc, check_http, parse_target
from colonnade_tools.devstack import runstate
from colonnade_tools.devstack.runstate import Component

NOT_RUNNING = 3
_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


def _exchange(address: str, request: bytes, timeout: float) -> bytes:
    host, port = parse_target(address)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(request)
        return sock.recv(64)


def probe(component: Component, timeout: float = 1.0) -> tuple[bool, str]:
    """(healthy, what was seen) for one component."""
    try:
        if component.probe == "postgres":
            answer = _exchange(component.address, _SSL_REQUEST, timeout)
            ok = answer[:1] in (b"S", b"N")
            return ok, "accepting connections" if ok else f"unexpected answer {answer[:8]!r}"
        if component.probe == "memcached":
            answer = _exchange(component.address, b"version\r\n", timeout)
            ok = answer.startswith(b"VERSION")
            return ok, answer.decode(errors="replace").strip() if ok else f"answered {answer!r}"
    except OSError as exc:
        return False, exc.strerror or str(exc)
    if component.probe == "grpc":
        ok, why = check_grpc(component.address, timeout=timeout)
        return ok, "SERVING" if ok else why
    if component.probe == "http":
        ok, why = check_http(component.address, timeout=timeout)
        return ok, "200 OK" if ok else why
    return True, "not managed by make run"


def report(state_dir: Path) -> tuple[int, str]:
    """The exit code and the table ``make status`` prints."""
    run = runstate.running(state_dir)
    if run is None:
        return NOT_RUNNING, f"Colonnade is not running (no live stack in {state_dir}): make run\n"
    up = time.time() - run.started_at
    head = f"Colonnade (pid {run.pid}, {run.state}"
    if run.ready_after is not None:
        head += f", ready in {run.ready_after:.1f} s"
    lines = [head + f", up {_duration(up)})"]
    if not run.components:
        return 1, lines[0] + "\n  still starting: no component is up yet\n"
    width = max(len(c.name) for c in run.components)
    healthy = True
    for component in run.components:
        ok, seen = probe(component)
        healthy &= ok
        mark = "ok  " if ok else "DOWN"
        detail = f"  {component.detail}" if component.detail else ""
        lines.append(f"  {mark} {component.name:<{width}}  {component.address}  {seen}{detail}")
    return (0 if healthy else 1), "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def main() -> int:
    """Print the table; the exit code says whether everything is healthy."""
    code, text = report(runstate.state_dir())
    sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
