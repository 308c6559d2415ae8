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


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``host:port`` now (bound as servers bind: reusing
    TIME_WAIT addresses, so a just-stopped stack's port counts as free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on ``port`` (Linux's /proc/net/tcp and tcp6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    # local address is HEXIP:HEXPORT; state 0A is LISTEN
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            continue
    return inodes


def port_holder(port: int) -> str | None:
    """Who listens on ``port``: ``"memcached (pid 4242: memcached -p 11212 …)"``, or None
    when that cannot be found (another user's process, or a system without /proc)."""
    inodes = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not inodes:
        return None
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry.name}/fd")
            held = any(os.readlink(f"/proc/{entry.name}/fd/{fd}") in inodes for fd in fds)
            if not held:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as raw:
                argv = raw.read().rstrip(b"\0").decode(errors="replace").split("\0")
        except OSError:  # it exited meanwhile, or it is not ours to read
            continue
        command = " ".join(" ".join(argv).split())  # one line, whatever the arguments hold
        if len(command) > 80:
            command = command[:77] + "…"
        return f"{os.path.basename(argv[0])} (pid {entry.name}: {command})"
    return None
