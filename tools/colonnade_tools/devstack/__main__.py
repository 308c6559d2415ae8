"""``make run``: the whole system on loopback, with data kept in ``.local/``.

PostgreSQL (embedded, unless ``DATABASE_URL`` is set) and memcached (unless ``CACHE_URL`` is
set) start first; migrations and seeds run; then the catalog and orders services and the REST
gateway start together as child processes. Every step prints when it starts and when it is
ready, with the seconds since ``make run`` began; the summary says where everything answers.
A port taken by another process is named with that process (and, unless the port was set
explicitly, the next free one is used); a second stack on the same data folder is refused.
Ctrl-C (or SIGTERM), even during start-up, stops the services gracefully, then the servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from colonnade.descriptors import descriptor_set
from colonnade.runtime.db import migrate, wait_for_database
from colonnade.runtime.healthcheck import Check, check_grpc, check_http
from colonnade.runtime.settings import Settings
from colonnade_tools.devauth import DevAuth
from colonnade_tools.devstack import runstate
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import port_holder, port_is_free
from colonnade_tools.devstack.postgres import PostgresServer
from colonnade_tools.devstack.runstate import ROOT, Component, RunState
from colonnade_tools.devstack.seed import seed

__all__ = ["ROOT", "gateway_command", "gateway_env", "main"]

#: Seconds ``make run`` may take, on a warm checkout, to be ready (the summary says if it did not).
READY_BUDGET = 10.0
#: How far past a taken default port to look for a free one.
PORT_SEARCH = 100


def _started_at() -> float:
    """When ``make run`` began: the Makefile passes its start time (so the figure includes the
    setup steps make runs first); run directly, this process's start."""
    try:
        return float(os.environ["COLONNADE_RUN_STARTED"])
    except (KeyError, ValueError):
        return time.time()


class Progress:
    """Progress lines on stderr, each with the seconds since ``make run`` began."""

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at

    def elapsed(self) -> float:
        return time.time() - self.started_at

    def say(self, message: str) -> None:
        print(f"[colonnade {self.elapsed():5.1f}s] {message}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def step(self, what: str, starting: str, ready: str = "ready") -> Iterator[None]:
        """``what: starting`` now, ``what: ready (N s)`` when the block ends."""
        self.say(f"{what}: {starting}")
        began = time.monotonic()
        yield
        self.say(f"{what}: {ready} ({time.monotonic() - began:.1f} s)")


class PortTaken(SystemExit):
    """A port set explicitly is held by another process."""


class Ports:
    """The stack's ports: each from its variable, or its default; a taken default moves on."""

    def __init__(self, progress: Progress, host: str) -> None:
        self.progress = progress
        self.host = host
        self.taken: set[int] = set()

    def choose(self, variable: str, default: int, who: str) -> int:
        raw = os.environ.get(variable)
        try:
            port = int(raw) if raw else default
        except ValueError:
            raise SystemExit(f"{variable} must be a port number, got {raw!r}") from None
        if port not in self.taken and port_is_free(port, self.host):
            self.taken.add(port)
            return port
        holder = port_holder(port) or "another process"
        if raw:
            raise PortTaken(
                f"{who}'s port {port} ({variable}={raw}) is held by {holder}: stop it, or "
                f"choose another port ({variable}=<port> make run)"
            )
        for candidate in range(port + 1, port + PORT_SEARCH):
            if candidate not in self.taken and port_is_free(candidate, self.host):
                self.taken.add(candidate)
                self.progress.say(
                    f"port {port} is held by {holder}: {who} uses {candidate} instead "
                    f"({variable}=<port> chooses one)"
                )
                return candidate
        raise PortTaken(f"{who}: ports {port}-{port + PORT_SEARCH} are all taken")


class Stopping(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: unwind start-up or the wait, then stop everything."""


class StopRequests:
    """SIGINT and SIGTERM raise :class:`Stopping` in the main thread, at once, except inside
    :meth:`deferred` (a child process being started and recorded, so none is left behind
    unrecorded) where the request waits for the block's end, and once stopping has begun
    (a second Ctrl-C must not cut the stop short). Not a blocked signal mask: children would
    inherit it and ignore the SIGTERM that stops them."""

    def __init__(self) -> None:
        self.stopping = False
        self.pending: str | None = None
        self.depth = 0

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.stopping:
            return
        name = signal.Signals(signum).name
        if self.depth:
            self.pending = name
            return
        self.stopping = True
        raise Stopping(name)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if not self.depth and self.pending and not self.stopping:
                self.stopping = True
                raise Stopping(self.pending)


class Stack:
    def __init__(self, progress: Progress, requests: StopRequests) -> None:
        self.progress = progress
        self.requests = requests
        self.state = runstate.state_dir()
        self.host = "127.0.0.1"
        self.ports = Ports(progress, self.host)
        self.postgres: PostgresServer | None = None
        self.memcached: MemcachedServer | None = None
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.components: list[Component] = []

    def choose_ports(self) -> None:
        """Every port, before anything starts: a taken one stops the start at once."""
        choose = self.ports.choose
        if not os.environ.get("DATABASE_URL"):
            port = choose("POSTGRES_PORT", 15432, "PostgreSQL")
            self.postgres = PostgresServer(self.state / "pgdata", port)
        if not os.environ.get("CACHE_URL"):
            self.memcached = MemcachedServer(choose("MEMCACHED_PORT", 11212, "memcached"))
        self.catalog_port = choose("CATALOG_PORT", 50051, "catalog")
        self.orders_port = choose("ORDERS_PORT", 50052, "orders")
        self.gateway_port = choose("GATEWAY_PORT", 8080, "the gateway")
        # Each service's admin port: /metrics (Prometheus) and /status.json (the gateway's
        # /status page reads it).
        self.catalog_admin_port = choose("CATALOG_ADMIN_PORT", 9464, "catalog's admin port")
        self.orders_admin_port = choose("ORDERS_ADMIN_PORT", 9465, "orders' admin port")

    def start_data_stores(self) -> tuple[str, str]:
        database_url = os.environ.get("DATABASE_URL")
        cache_url = os.environ.get("CACHE_URL")
        if database_url:
            self.progress.say("PostgreSQL: using DATABASE_URL")
            self.components.append(Component("PostgreSQL", "external", "DATABASE_URL"))
        else:
            assert self.postgres is not None
            data = self.postgres.data_dir
            fresh = not (data / "PG_VERSION").exists()
            address = f"{self.host}:{self.postgres.port}"
            kept = "new cluster" if fresh else "reusing its data"
            with self.progress.step("PostgreSQL", f"starting on {address} ({data}, {kept})"):
                with self.requests.deferred():
                    self.postgres.start()
                self.postgres.create_database("colonnade")
            database_url = self.postgres.url("colonnade")
            self.components.append(Component("PostgreSQL", "postgres", address, f"data {data}"))
        if cache_url:
            self.progress.say(f"memcached: using CACHE_URL ({cache_url})")
            self.components.append(Component("memcached", "external", "CACHE_URL"))
        else:
            assert self.memcached is not None
            address = f"{self.host}:{self.memcached.port}"
            with (
                self.progress.step("memcached", f"starting on {address}"),
                self.requests.deferred(),
            ):
                self.memcached.start()
            cache_url = self.memcached.url
            self.components.append(Component("memcached", "memcached", address))
        return database_url, cache_url

    def admin_ports(self) -> dict[str, int]:
        """The services' admin ports by name."""
        return {"catalog": self.catalog_admin_port, "orders": self.orders_admin_port}

    def log_path(self, name: str) -> Path | None:
        """Where ``name``'s JSON logs go: ``.local/logs/<name>.log``, so the terminal keeps the
        progress and the summary readable; None (the terminal) with COLONNADE_LOGS=terminal."""
        if os.environ.get("COLONNADE_LOGS") == "terminal":
            return None
        return self.state / "logs" / f"{name}.log"

    def show_log_end(self, name: str, lines: int = 30) -> None:
        """The last lines of a component that died: its error, or the faulthandler's
        traceback of a crash, on the terminal rather than only in its log file."""
        log = self.log_path(name)
        if log is None or not log.exists():
            return
        end = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- the end of {log} ---", *end, "---", sep="\n", file=sys.stderr, flush=True)

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        log = self.log_path(name)
        if log is not None:
            log.parent.mkdir(exist_ok=True)
        with self.requests.deferred(), contextlib.ExitStack() as files:
            out = None if log is None else files.enter_context(log.open("ab"))
            process = subprocess.Popen(
                args, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
            )
            self.children.append((name, process))
        where = "" if log is None else f", logs in {log}"
        self.progress.say(f"{name}: starting (pid {process.pid}{where})")

    def wait_ready(self, name: str, check: Check, address: str) -> None:
        """Wait for ``name``'s health check; fail at once if its process exits."""
        process = dict(self.children)[name]
        began = time.monotonic()
        while True:
            ok, why = check()
            if ok:
                break
            if process.poll() is not None:
                log = self.log_path(name)
                self.show_log_end(name)
                raise SystemExit(
                    f"{name} exited with code {process.returncode} while starting"
                    + (f": the end of {log} says why" if log else "")
                )
            if time.monotonic() - began > 60:
                raise SystemExit(f"{name} not ready after 60 s: {why}")
            time.sleep(0.05)
        self.progress.say(f"{name}: ready on {address}")

    def record(self, run: RunState) -> None:
        run.components = list(self.components)
        runstate.write(self.state, run)

    def stop(self) -> None:
        self.requests.stopping = True
        for name, process in reversed(self.children):
            if process.poll() is None:
                self.progress.say(f"stopping {name}")
                process.send_signal(signal.SIGTERM)
        for _name, process in reversed(self.children):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.children.clear()
        if self.memcached is not None and self.memcached.running:
            self.progress.say("stopping memcached")
            self.memcached.stop()
        if self.postgres is not None and self.postgres.running:
            self.progress.say("stopping PostgreSQL (fast shutdown: the data stays consistent)")
            self.postgres.stop()
        self.progress.say("stopped: no process of the stack is left")


def main() -> int:
    progress = Progress(_started_at())
    # What make did first (code generation, the system check) and this process's imports.
    progress.say("set-up checked; starting the stack")
    requests = StopRequests()
    requests.install()
    stack = Stack(progress, requests)
    already = runstate.running(stack.state)
    if already is not None:
        raise SystemExit(
            f"Colonnade is already running on {stack.state} (pid {already.pid}): `make status` "
            f"shows it; Ctrl-C in its terminal or `kill {already.pid}` stops it"
        )
    run = RunState(pid=os.getpid(), started_at=progress.started_at)
    stack.state.mkdir(parents=True, exist_ok=True)
    runstate.write(stack.state, run)
    try:
        stack.choose_ports()
        database_url, cache_url = stack.start_data_stores()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CACHE_URL": cache_url,
            "GRPC_HOST": stack.host,
            # A process killed by a signal (a segfault in a native extension) leaves the
            # Python stacks of its threads at the end of its log, not silence.
            "PYTHONFAULTHANDLER": os.environ.get("PYTHONFAULTHANDLER", "1"),
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

        with progress.step("data", "applying migrations, seeding products", "migrated"):
            created = asyncio.run(prepare())
        progress.say(
            f"data: {created} seed products created"
            if created
            else "data: seed products already there (the data of the last run is kept)"
        )

        catalog_target = f"{stack.host}:{stack.catalog_port}"
        orders_target = f"{stack.host}:{stack.orders_port}"
        # The three processes start together: each spends its first second importing, and two
        # cores do that in parallel. Orders calls catalog only per request (its recovery pass
        # retries), and the gateway's /readyz waits for both backends.
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
        gateway = importlib.util.find_spec("colonnade.gateway.__main__") is not None
        base = f"http://{stack.host}:{stack.gateway_port}"
        if not gateway:
            progress.say("REST gateway not available in this checkout: gRPC only")
        else:
            stack.spawn(
                "gateway", _gateway_command(stack), _gateway_env(stack, env, auth, cache_url)
            )
        for name, target, admin in (
            ("catalog", catalog_target, stack.catalog_admin_port),
            ("orders", orders_target, stack.orders_admin_port),
        ):
            stack.wait_ready(name, functools.partial(check_grpc, target, timeout=1), target)
            metrics = f"http://{stack.host}:{admin}/metrics"
            stack.components.append(Component(name, "grpc", target, f"metrics {metrics}"))
        if gateway:
            readyz = f"{base}/readyz"
            stack.wait_ready("gateway", lambda: check_http(readyz, timeout=1), base)
            stack.components.append(
                Component("gateway", "http", readyz, f"web UI {base}/  docs {base}/docs")
            )
        ready_after = progress.elapsed()
        run.state, run.ready_after = "ready", round(ready_after, 2)
        stack.record(run)
        print(
            _summary(
                catalog_target,
                orders_target,
                stack.gateway_port if gateway else None,
                token,
                api_key,
            ),
            _metrics_banner(stack, gateway, os.environ.get("TRACE_EXPORTERS", "")),
            sep="",
            flush=True,
        )
        verdict = "" if ready_after <= READY_BUDGET else f" (over the {READY_BUDGET:.0f} s budget)"
        progress.say(
            f"ready in {ready_after:.1f} s since make run{verdict}. "
            "Ctrl-C stops everything; `make status` shows each component."
        )
        while True:
            for name, process in stack.children:
                if process.poll() is not None:
                    progress.say(
                        f"{name} exited with code {process.returncode}; stopping the stack"
                    )
                    stack.show_log_end(name)
                    return 1
            time.sleep(0.2)
    except Stopping as stop:
        progress.say(f"{stop.args[0]}: stopping")
        return 0
    finally:
        stack.stop()
        runstate.remove(stack.state, run.pid)


def _gateway_command(stack: Stack) -> list[str]:
    return gateway_command(
        stack.host,
        stack.gateway_port,
        f"{stack.host}:{stack.catalog_port}",
        f"{stack.host}:{stack.orders_port}",
    )


def gateway_command(host: str, port: int, catalog_target: str, orders_target: str) -> list[str]:
    """The gateway's command line in front of the catalog and orders at these targets (the
    reliability drills start it the same way, with several addresses per target)."""
    return [
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
        host,
        "--port",
        str(port),
    ]


def _gateway_env(
    stack: Stack, env: dict[str, str], auth: DevAuth, cache_url: str
) -> dict[str, str]:
    sources = {name: f"http://{stack.host}:{port}" for name, port in stack.admin_ports().items()}
    return gateway_env(env, auth, cache_url, sources)


def gateway_env(
    env: dict[str, str], auth: DevAuth, cache_url: str, status_sources: dict[str, str]
) -> dict[str, str]:
    """The gateway's environment: auth from the local issuer, the policy cache, the status
    page's sources (name → admin URL), tracing when TRACE_EXPORTERS says so."""
    return {
        **env,
        **auth.gateway_env(),
        "SERVICE_NAME": "gateway",
        # throttling counters and the response cache live in the same memcached
        "COLONNADE_GATEWAY_POLICY_CACHE_URL": "" if cache_url == "none" else cache_url,
        "COLONNADE_GATEWAY_STATUS_SOURCES": ",".join(
            f"{name}={url}" for name, url in status_sources.items()
        ),
        # TRACE_EXPORTERS (e.g. stdout, file:/tmp/spans.jsonl) traces the gateway too.
        **(
            {"COLONNADE_GATEWAY_TRACE_EXPORTERS": env["TRACE_EXPORTERS"]}
            if env.get("TRACE_EXPORTERS")
            else {}
        ),
    }


def _summary(
    catalog_target: str, orders_target: str, gateway_port: int | None, token: str, api_key: str
) -> str:
    """What runs where, the credentials, then commands to paste (they use $COLONNADE_TOKEN,
    so its export comes first)."""
    lines = ["", "Colonnade is running. Ctrl-C stops everything (data stays in .local/).", ""]
    if gateway_port is not None:
        base = f"http://127.0.0.1:{gateway_port}"
        lines += [
            f"  Browser          {base}/#token={token}",
            "                   (the shop, signed in: products, cart, orders)",
            f"                   {base}/docs    (API docs: try every operation)",
            f"                   {base}/status  (each component's health and traffic)",
        ]
    lines += [
        "  Credentials (local issuer in .local/auth; `colonnade-dev-auth` mints more)",
        "    export COLONNADE_TOKEN=" + token,
        f"    # every scope, 8 h; an API key with orders.read orders.write: x-api-key: {api_key}",
    ]
    if gateway_port is not None:
        lines += _rest_examples(f"http://127.0.0.1:{gateway_port}")
    lines += _grpc_examples(catalog_target, orders_target)
    return "\n".join(lines) + "\n"


def _rest_examples(base: str) -> list[str]:
    auth = '-H "authorization: Bearer $COLONNADE_TOKEN"'
    json = "-H 'content-type: application/json'"
    return [
        f"  REST (gateway)   {base}   ({base}/openapi.json describes it)",
        f"    curl {base}/v1/products",
        f"    curl {base}/v1/products/fountain-pen",
        f"    curl {base}/v2/products/fountain-pen   # v2: displayName, decimal price",
        f"    curl -X POST {base}/v1/products {json} {auth} \\",
        '         -d \'{"sku":"MUG-1","title":"Mug","price":{"currencyCode":"EUR","units":"9"}}\'',
        f"    export REQUEST_ID={uuid.uuid4()}   # the same id twice places one order",
        f'    curl -X POST "{base}/v1/orders?requestId=$REQUEST_ID" {json} {auth} \\',
        '         -d \'{"currencyCode":"EUR",'
        '"lineItems":[{"product":"products/desk-lamp","quantity":"1"}]}\'',
        f"    curl {base}/v1/orders {auth}",
        f"    curl -N {base}/v1/orders/<id>:watch -H 'accept: text/event-stream' {auth}",
        f"    curl -X POST {base}/v1/orders/<id>:cancel {json} {auth} -d '{{}}'",
    ]


#: Placing an order over gRPC with the generated stubs (grpcurl works too: reflection is on).
#: Printed unindented: it is a here-document, pasted as it is.
GRPC_ORDER = """\
.venv/bin/python - <<'EOF'
import os, uuid, grpc
from colonnade.orders.v1 import orders_pb2 as o, orders_pb2_grpc as rpc
stub = rpc.OrdersServiceStub(grpc.insecure_channel("{target}"))
auth = [("authorization", "Bearer " + os.environ["COLONNADE_TOKEN"])]
item = o.LineItem(product="products/notebook-a5", quantity=2)
order = o.Order(currency_code="EUR", line_items=[item])
request = o.CreateOrderRequest(order=order, request_id=str(uuid.uuid4()))
print(stub.CreateOrder(request, metadata=auth))
EOF"""


def _grpc_examples(catalog_target: str, orders_target: str) -> list[str]:
    cli = ".venv/bin/colonnade-catalog-cli"
    if catalog_target != "127.0.0.1:50051":
        cli += f" --target {catalog_target}"
    return [
        f"  gRPC (catalog)   {catalog_target}   services: colonnade.catalog.v1.CatalogService,"
        " colonnade.catalog.v2.CatalogService, grpc.health.v1.Health, reflection",
        f"    {cli} list",
        f"    {cli} create --sku MUG-1 --title 'Mug'"
        " --price 9.90 --currency EUR --stock 10 --category home",
        f"    {cli} get products/fountain-pen",
        f"    {cli} update products/fountain-pen --title 'Fountain pen, blue'",
        f"    {cli} delete products/<id>",
        f"    grpcurl -plaintext {catalog_target} list   # with grpcurl: reflection is on",
        f"  gRPC (orders)    {orders_target}   services: colonnade.orders.v1.OrdersService",
        "    # place an order: paste the whole here-document",
        GRPC_ORDER.format(target=orders_target),
    ]


def _metrics_banner(stack: Stack, gateway: bool, exporters: str) -> str:
    """Where the metrics and the status page are (the admin ports are set by the stack)."""
    lines = ["  Metrics (Prometheus text)"]
    if gateway:
        base = f"http://{stack.host}:{stack.gateway_port}"
        lines.append(f"    gateway        {base}/metrics")
    for name, port in stack.admin_ports().items():
        lines.append(f"    {name:<14} http://{stack.host}:{port}/metrics")
    lines.append(
        f"  Traces           TRACE_EXPORTERS={exporters}"
        if exporters
        else "  Traces           off (TRACE_EXPORTERS=stdout, file:PATH or otlp make run: on)"
    )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
