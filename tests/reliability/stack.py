"""The whole system as ``make run`` starts it, with each piece under the drills' control.

The same pieces as ``python -m colonnade_tools.devstack`` (embedded PostgreSQL, a memcached
process, the local token issuer, the migrations and the gateway's command line and
environment), but every process is the test's to kill, stop and restart, and the catalog and
orders run as two instances each (``-a``, ``-b``): orders reach the catalogs, and the
gateway both services, through one target naming both addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from colonnade.runtime.db import migrate, wait_for_database
from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
from colonnade.runtime.settings import Settings
from colonnade_tools.devauth import DevAuth
from colonnade_tools.devstack.__main__ import gateway_command, gateway_env
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import PostgresServer

HOST = "127.0.0.1"
#: Limits far above the drills' load: the drills test faults, not throttling.
RATE_LIMITS = "read=5000/100000,write=5000/100000,standard=5000/100000,internal=5000/100000"


@dataclass
class Proc:
    """One service process: started, stopped (SIGTERM), killed (SIGKILL) and restarted by
    the drills; its peak resident memory is sampled while it runs."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    ready: functools.partial[tuple[bool, str]]
    process: subprocess.Popen[bytes] | None = None
    rss_peak_kb: int = 0
    starts: int = 0
    exits: list[int] = field(default_factory=list)

    def start(self, timeout: float = 60, ready_line: str = "") -> None:
        """Start the process and wait for its health check (and, with ``ready_line``, for
        its log to say so: a second gateway on a shared port cannot be told apart by its
        health check, the first one answers it)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not self.ready()[0] or ready_line not in self.log_since(offset):
            if self.process.poll() is not None:
                code = self.process.returncode
                raise RuntimeError(f"{self.name} exited with {code}: {self.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout} s: {self.tail()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, as ECS or Kubernetes stop a task; the exit code."""
        assert self.process is not None
        self.sample_rss()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.exits.append(code)
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, with nothing cleaned up."""
        assert self.process is not None
        self.sample_rss()
        self.process.kill()
        self.exits.append(self.process.wait(10))

    def sample_rss(self) -> int:
        """The process's resident memory now (kB), also kept as its peak."""
        if not self.running():
            return 0
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return 0
        line = next((x for x in status.splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
        rss = int(line.split()[1])
        self.rss_peak_kb = max(self.rss_peak_kb, rss)
        return rss

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def tail(self, lines: int = 30) -> str:
        """The end of the process's log (for failure messages)."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Stack:
    """PostgreSQL, memcached, catalog-a/b, orders-a/b and the gateway on loopback."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres = PostgresServer(root / "pgdata", free_port(), durable=False)
        self.memcached = MemcachedServer(free_port())
        self.auth = DevAuth(root / "auth").init()
        self.token = self.auth.token("reliability")
        self.procs: dict[str, Proc] = {}
        self.ports: dict[str, int] = {}
        self.admin: dict[str, int] = {}

    @property
    def database_url(self) -> str:
        return self.postgres.url("colonnade")

    @property
    def gateway_port(self) -> int:
        return self.ports["gateway"]

    def target(self, service: str) -> str:
        """gRPC's name for both instances of ``service`` (``ipv4:a,b``)."""
        return "ipv4:" + ",".join(f"{HOST}:{self.ports[f'{service}-{i}']}" for i in "ab")

    def start(self) -> None:
        self.postgres.start()
        self.postgres.create_database("colonnade")
        self.memcached.start()
        settings = Settings.from_env(
            {"DATABASE_URL": self.database_url, "CACHE_URL": "none"}, service_name="reliability"
        )

        async def prepare() -> None:
            await wait_for_database(settings)
            await migrate(settings, "catalog", "colonnade.catalog.migrations")
            await migrate(settings, "orders", "colonnade.orders.migrations")

        asyncio.run(prepare())
        for name in ("catalog-a", "catalog-b", "orders-a", "orders-b", "gateway"):
            self.ports[name] = free_port()
        base = {
            **{k: v for k, v in os.environ.items() if not k.startswith("COLONNADE_")},
            "DATABASE_URL": self.database_url,
            "CACHE_URL": self.memcached.url,
            "GRPC_HOST": HOST,
            "DB_MIGRATE": "false",
            "DB_CONNECT_TIMEOUT": "2",
            "LOG_LEVEL": "INFO",
            # Health says NOT_SERVING this long before a stopping server stops accepting:
            # the clients' health checks move their calls to the other instance first.
            "SHUTDOWN_DELAY_SECONDS": "1.5",
            "SHUTDOWN_GRACE_SECONDS": "10",
            "PYTHONFAULTHANDLER": "1",
        }
        for service in ("catalog", "orders"):
            for i in "ab":
                name = f"{service}-{i}"
                self.admin[name] = free_port()
                env = {
                    **base,
                    **self.auth.service_env(None if service == "catalog" else "orders"),
                    "SERVICE_NAME": service,
                    "GRPC_PORT": str(self.ports[name]),
                    "ADMIN_PORT": str(self.admin[name]),
                }
                if service == "orders":
                    env |= {
                        "CATALOG_TARGET": self.target("catalog"),
                        "ORDERS_RECOVERY_GRACE": "4",
                        "ORDERS_RECOVERY_INTERVAL": "1",
                    }
                target = f"{HOST}:{self.ports[name]}"
                self.add(
                    name,
                    [sys.executable, "-m", f"colonnade.{service}"],
                    env,
                    functools.partial(check_grpc, target, timeout=1),
                )
        sources = {name: f"http://{HOST}:{port}" for name, port in self.admin.items()}
        self.add(
            "gateway",
            gateway_command(HOST, self.gateway_port, self.target("catalog"), self.target("orders")),
            {
                **gateway_env(base, self.auth, self.memcached.url, sources),
                "COLONNADE_GATEWAY_RATE_LIMITS": RATE_LIMITS,
                # a second gateway process binds the same port during its rolling restart
                "COLONNADE_GATEWAY_REUSE_PORT": "true",
            },
            functools.partial(check_http, f"http://{HOST}:{self.gateway_port}/readyz", timeout=1),
        )
        for proc in self.procs.values():
            proc.start()

    def add(
        self,
        name: str,
        args: list[str],
        env: dict[str, str],
        ready: functools.partial[tuple[bool, str]],
    ) -> Proc:
        proc = Proc(name, args, env, self.logs / f"{name}.log", ready)
        self.procs[name] = proc
        return proc

    def sample_rss(self) -> None:
        for proc in self.procs.values():
            proc.sample_rss()

    def stop(self) -> None:
        for proc in reversed(self.procs.values()):
            if proc.running():
                with contextlib.suppress(Exception):
                    proc.terminate(20)
            if proc.running():
                proc.kill()
        self.memcached.stop()
        self.postgres.remove()

    def wait_ready(self, name: str, timeout: float = 30) -> None:
        wait_healthy(self.procs[name].ready, timeout)
