"""``make run``: the whole system on loopback, with data kept in ``.local/``.

PostgreSQL (embedded, unless ``DATABASE_URL`` is set) and memcached (unless
``CACHE_URL`` is set) start first; migrations and seeds run; then the catalog
and orders services and the REST gateway start as child processes. Ctrl-C (or SIGTERM)
stops the services gracefully, then the servers.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from colonnade.descriptors import descriptor_set
from colonnade.runtime.db import migrate, wait_for_database
from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
from colonnade.runtime.settings import Settings
from colonnade_tools.devauth import DevAuth
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.postgres import PostgresServer
from colonnade_tools.devstack.seed import seed

#: The checkout (tools/colonnade_tools/devstack/__main__.py → repository): `.local/` is there.
ROOT = Path(__file__).resolve().parents[3]


def _port(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a port number, got {raw!r}") from None


def _say(message: str) -> None:
    print(f"[colonnade] {message}", file=sys.stderr, flush=True)


class Stack:
    def __init__(self) -> None:
        self.state = Path(os.environ.get("COLONNADE_STATE_DIR", ROOT / ".local"))
        self.host = "127.0.0.1"
        self.catalog_port = _port("CATALOG_PORT", 50051)
        self.orders_port = _port("ORDERS_PORT", 50052)
        self.gateway_port = _port("GATEWAY_PORT", 8080)
        # Each service's admin port: /metrics (Prometheus) and /status.json (the gateway's
        # /status page reads it).
        self.catalog_admin_port = _port("CATALOG_ADMIN_PORT", 9464)
        self.orders_admin_port = _port("ORDERS_ADMIN_PORT", 9465)
        self.postgres: PostgresServer | None = None
        self.memcached: MemcachedServer | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start_data_stores(self) -> tuple[str, str]:
        database_url = os.environ.get("DATABASE_URL")
        if database_url:
            _say("PostgreSQL: using DATABASE_URL")
        else:
            self.state.mkdir(parents=True, exist_ok=True)
            self.postgres = PostgresServer(self.state / "pgdata", _port("POSTGRES_PORT", 15432))
            _say(
                f"PostgreSQL: starting on {self.host}:{self.postgres.port}"
                f" (data in {self.postgres.data_dir})"
            )
            self.postgres.start()
            self.postgres.create_database("colonnade")
            database_url = self.postgres.url("colonnade")
        cache_url = os.environ.get("CACHE_URL")
        if cache_url:
            _say("memcached: using CACHE_URL")
        else:
            self.memcached = MemcachedServer(_port("MEMCACHED_PORT", 11212))
            _say(f"memcached: starting on {self.host}:{self.memcached.port}")
            self.memcached.start()
            cache_url = self.memcached.url
        return database_url, cache_url

    def admin_ports(self) -> dict[str, int]:
        """The services' admin ports by name."""
        return {"catalog": self.catalog_admin_port, "orders": self.orders_admin_port}

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(args, env=env, start_new_session=True)
        self.children.append((name, process))

    def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                _say(f"stopping {name}")
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.children):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.children.clear()
        if self.memcached is not None:
            _say("stopping memcached")
            self.memcached.stop()
        if self.postgres is not None:
            _say("stopping PostgreSQL")
            self.postgres.stop()


def main() -> int:
    stack = Stack()
    stop = {"signal": None}

    def request_stop(signum: int, _frame: object) -> None:
        stop["signal"] = signum  # type: ignore[assignment]

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        database_url, cache_url = stack.start_data_stores()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "GRPC_HOST": stack.host,
        }
        settings = Settings.from_env(env, service_name="devstack")
        # A local token issuer (.local/auth): every service enforces its contract's policies
        # as it does in AWS, and the banner prints a token and an API key to call with.
        auth = DevAuth(stack.state / "auth").init()
        token = auth.token("dev")
        api_key = auth.api_key(  # before the gateway starts, so it works at once
            "devstack", "partner:devstack", ["orders.read", "orders.write"], "standard"
        )

        async def prepare() -> int:
            await wait_for_database(settings)
            await migrate(settings, "catalog", "colonnade.catalog.migrations")
            await migrate(settings, "orders", "colonnade.orders.migrations")
            return await seed(settings)

        created = asyncio.run(prepare())
        _say(f"migrations applied; {created} seed products created")

        catalog_target = f"{stack.host}:{stack.catalog_port}"
        stack.spawn(
            "catalog",
            [sys.executable, "-m", "colonnade.catalog"],
            {
                **env,
                **auth.service_env(),
                "SERVICE_NAME": "catalog",
                "GRPC_PORT": str(stack.catalog_port),
                "ADMIN_PORT": str(stack.catalog_admin_port),
            },
        )
        wait_healthy(lambda: check_grpc(catalog_target, timeout=1), 60)
        orders_target = f"{stack.host}:{stack.orders_port}"
        stack.spawn(
            "orders",
            [sys.executable, "-m", "colonnade.orders"],
            {
                **env,
                **auth.service_env("orders"),
                "SERVICE_NAME": "orders",
                "GRPC_PORT": str(stack.orders_port),
                "ADMIN_PORT": str(stack.orders_admin_port),
                "CATALOG_TARGET": catalog_target,
            },
        )
        wait_healthy(lambda: check_grpc(orders_target, timeout=1), 60)

        gateway = False
        if importlib.util.find_spec("colonnade.gateway.__main__") is None:
            _say("REST gateway not available in this checkout: gRPC only")
        else:
            stack.spawn(
                "gateway",
                [
                    sys.executable,
                    "-m",
                    "colonnade.gateway",
                    "--descriptors",
                    str(descriptor_set()),
                    "--backend",
                    f"colonnade.catalog.v1.CatalogService={catalog_target}",
                    "--backend",
                    f"colonnade.catalog.v2.CatalogService={catalog_target}",
                    "--backend",
                    f"colonnade.orders.v1.OrdersService={orders_target}",
                    "--host",
                    stack.host,
                    "--port",
                    str(stack.gateway_port),
                ],
                {
                    **env,
                    **auth.gateway_env(),
                    "SERVICE_NAME": "gateway",
                    # throttling counters and the response cache live in the same memcached
                    "COLONNADE_GATEWAY_POLICY_CACHE_URL": "" if cache_url == "none" else cache_url,
                    "COLONNADE_GATEWAY_STATUS_SOURCES": ",".join(
                        f"{name}=http://{stack.host}:{port}"
                        for name, port in stack.admin_ports().items()
                    ),
                    # TRACE_EXPORTERS (e.g. stdout, file:/tmp/spans.jsonl) traces the gateway too.
                    **(
                        {"COLONNADE_GATEWAY_TRACE_EXPORTERS": env["TRACE_EXPORTERS"]}
                        if env.get("TRACE_EXPORTERS")
                        else {}
                    ),
                },
            )
            readyz = f"http://{stack.host}:{stack.gateway_port}/readyz"
            wait_healthy(lambda: check_http(readyz, timeout=1), 60)
            gateway = True

        print(
            _banner(catalog_target, orders_target, stack.gateway_port if gateway else None),
            _metrics_banner(stack, gateway, os.environ.get("TRACE_EXPORTERS", "")),
            _credentials(token, api_key, stack.gateway_port if gateway else None),
            sep="",
            flush=True,
        )
        while stop["signal"] is None:
            for name, process in stack.children:
                if process.poll() is not None:
                    _say(f"{name} exited with code {process.returncode}; stopping the stack")
                    return 1
            time.sleep(0.2)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def _credentials(token: str, api_key: str, gateway_port: int | None) -> str:
    """The local credentials: every method but public reads needs one (make run enforces
    the contracts' policies like AWS does)."""
    lines = [
        "  Credentials (local issuer in .local/auth; `colonnade-dev-auth` mints more)",
        "    export COLONNADE_TOKEN=" + token,
        '    curl -H "authorization: Bearer $COLONNADE_TOKEN" …     (every scope, 8 h)',
        f"    curl -H 'x-api-key: {api_key}' …   (orders.read orders.write)",
        "    .venv/bin/colonnade-catalog-cli reads COLONNADE_TOKEN for create/update/delete",
    ]
    if gateway_port is not None:
        lines.append(f"  Web UI signed in  http://127.0.0.1:{gateway_port}/#token={token}")
    return "\n".join(lines) + "\n"


def _banner(catalog_target: str, orders_target: str, gateway_port: int | None) -> str:
    lines = [
        "",
        "Colonnade is running. Ctrl-C stops everything (data stays in .local/).",
        "",
        f"  gRPC (catalog)   {catalog_target}   services: colonnade.catalog.v1.CatalogService,"
        " colonnade.catalog.v2.CatalogService, grpc.health.v1.Health, reflection",
        "    .venv/bin/colonnade-catalog-cli list",
        "    .venv/bin/colonnade-catalog-cli create --sku MUG-1 --title 'Mug'"
        " --price 9.90 --currency EUR --stock 10 --category home",
        "    .venv/bin/colonnade-catalog-cli get products/fountain-pen",
        "    .venv/bin/colonnade-catalog-cli update products/fountain-pen"
        " --title 'Fountain pen, blue'",
        "    .venv/bin/colonnade-catalog-cli delete products/<id>",
        f"    grpcurl -plaintext {catalog_target} list      (if you have grpcurl: reflection is on)",  # noqa: E501
        f"  gRPC (orders)    {orders_target}   services: colonnade.orders.v1.OrdersService",
    ]
    if gateway_port is not None:
        base = f"http://127.0.0.1:{gateway_port}"
        lines += [
            "",
            f"  REST (gateway)   {base}",
            f"    curl {base}/v1/products",
            f"    curl {base}/v1/products/fountain-pen",
            f"    curl {base}/v2/products/fountain-pen   (v2: displayName, decimal price)",
            f"    curl -X POST {base}/v1/products -H 'content-type: application/json' \\",
            '         -H "authorization: Bearer $COLONNADE_TOKEN" \\',
            '         -d \'{"sku":"MUG-1","title":"Mug","price":{"currencyCode":"EUR","units":"9"}}\'',  # noqa: E501
            f"    curl -X POST {base}/v1/orders -H 'content-type: application/json' \\",
            '         -H "authorization: Bearer $COLONNADE_TOKEN" \\',
            '         -d \'{"currencyCode":"EUR","lineItems":[{"product":"products/desk-lamp","quantity":"1"}]}\'',  # noqa: E501
            f"  Browser          {base}/        (the catalog's web UI)",
            f"                   {base}/docs    (API docs: try every operation)",
        ]
    return "\n".join(lines) + "\n"


def _metrics_banner(stack: Stack, gateway: bool, exporters: str) -> str:
    """Where the metrics and the status page are (the admin ports are set by the stack)."""
    lines = ["  Metrics (Prometheus text)"]
    if gateway:
        base = f"http://{stack.host}:{stack.gateway_port}"
        lines.append(f"    gateway        {base}/metrics")
    for name, port in stack.admin_ports().items():
        lines.append(f"    {name:<14} http://{stack.host}:{port}/metrics")
    if gateway:
        lines.append(f"  Status page      http://{stack.host}:{stack.gateway_port}/status")
    lines.append(
        f"  Traces           TRACE_EXPORTERS={exporters}"
        if exporters
        else "  Traces           off (TRACE_EXPORTERS=stdout, file:PATH or otlp make run: on)"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
