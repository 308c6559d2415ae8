"""memcached as a child process on a loopback port (Debian's ``memcached`` binary)."""

from __future__ import annotations

import os
import signal
import subprocess

from colonnade.devstack.ports import find_program, wait_for_port

INSTALL_HINT = (
    "memcached is not installed. Install it with `sudo apt-get install memcached` "
    "(Debian/Ubuntu), `sudo dnf install memcached` (Fedora) or `brew install memcached` "
    "(macOS), or set CACHE_URL=memcached://host:port to use one you run."
)


def find_memcached() -> str | None:
    """The memcached binary: ``$MEMCACHED_BIN``, then ``PATH``, then Debian's path."""
    return find_program("MEMCACHED_BIN", "memcached", "/usr/bin/memcached")


class MemcachedServer:
    """One memcached process on ``host:port``."""

    def __init__(self, port: int, host: str = "127.0.0.1", memory_mb: int = 64) -> None:
        self.port = port
        self.host = host
        self.memory_mb = memory_mb
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"memcached://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        binary = find_memcached()
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        args = [binary, "-l", self.host, "-p", str(self.port), "-U", "0", "-m", str(self.memory_mb)]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for_port(self.host, self.port, timeout)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """Die abruptly (SIGKILL), as a crashed cache node would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
