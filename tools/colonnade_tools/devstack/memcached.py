"""memcached as a child process on a loopback port (Debian's ``memcached`` binary).

With ``tls_cert`` (and ``tls_key``, unless the key is in the chain file) it serves TLS only,
as ElastiCache does with in-transit encryption: Debian's memcached is built with TLS
(``-Z -o ssl_chain_cert=…,ssl_key=…``), and a plaintext client's connection is reset.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from colonnade_tools.devstack.ports import find_program, wait_for_port

INSTALL_HINT = (
    "memcached is not installed. Install it with `sudo apt-get install memcached` "
    "(Debian/Ubuntu), `sudo dnf install memcached` (Fedora) or `brew install memcached` "
    "(macOS), or set CACHE_URL=memcached://host:port to use one you run."
)


def find_memcached() -> str | None:
    """The memcached binary: ``$MEMCACHED_BIN``, then ``PATH``, then Debian's path."""
    return find_program("MEMCACHED_BIN", "memcached", "/usr/bin/memcached")


class MemcachedServer:
    """One memcached process on ``host:port``, TLS-only when given a certificate."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        memory_mb: int = 64,
        *,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
    ) -> None:
        self.port = port
        self.host = host
        self.memory_mb = memory_mb
        self.tls_cert = Path(tls_cert).resolve() if tls_cert else None
        self.tls_key = Path(tls_key).resolve() if tls_key else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

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
            args += ["-u", "nobody"]  # the certificate and key are read before dropping to it
        if self.tls_cert is not None:
            files = f"ssl_chain_cert={self.tls_cert}"
            if self.tls_key is not None:
                files += f",ssl_key={self.tls_key}"
            args += ["-Z", "-o", files]
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
