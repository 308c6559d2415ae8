"""Free loopback ports, and finding the system programs the stack runs."""

from __future__ import annotations

import os
import shutil
import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing listens on {host}:{port} after {timeout:.0f}s"
                ) from None
            time.sleep(0.05)


def find_program(env_var: str, *names: str) -> str | None:
    """An executable: ``$env_var`` when set (and executable), else the first of ``names``.

    A name is looked up on ``PATH``; an absolute path (e.g. Debian's ``/usr/bin/...``
    when ``PATH`` is minimal) is taken when it is executable.
    """
    explicit = os.environ.get(env_var)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in names:
        found = shutil.which(name) if not os.path.isabs(name) else name
        if found and os.access(found, os.X_OK):
            return found
    return None
