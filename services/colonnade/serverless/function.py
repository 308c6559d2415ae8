"""The Lambda function: the gateway and the services in one process, one event loop.

Cold start (the first event of an execution environment) reads the settings, connects the
services to PostgreSQL and memcached, registers their servicers on an in-process server
(inprocess.py) and builds the gateway with that server as its backend. Every event then runs
on the same event loop, so the asyncpg pools and the memcached clients made at cold start
serve every warm invocation (an adapter running `asyncio.run()` per event would have to
reconnect each time: both are bound to the loop that made them).

Settings come from the environment as for the containers:

- `COLONNADE_SERVICES` (default `catalog,orders`): the services this function serves;
- each service reads the runtime's variables (`DATABASE_URL`, `CACHE_URL`, `DB_POOL_MAX`,
  `DB_STATEMENT_CACHE_SIZE`, `DB_IAM_AUTH`, `AUTH_*`, ...), where `CATALOG_<NAME>` or
  `ORDERS_<NAME>` overrides `<NAME>` for that service alone (two databases, one function);
- the gateway reads its `COLONNADE_GATEWAY_*` variables (`COLONNADE_GATEWAY_BACKENDS` is
  not needed: every backend is in process);
- `COLONNADE_LAMBDA_SECRETS`: `NAME=<secret ARN>,...`, variables read from Secrets Manager
  at cold start (secrets.py: why), e.g. `CATALOG_PAGE_TOKEN_KEYS`;
- `COLONNADE_LAMBDA_BASE_PATH`: a custom domain's base path to strip (e.g. `/api`);
- `COLONNADE_LAMBDA_DEADLINE_MARGIN_MS` (default 500): how long before the invocation's
  end every call's deadline falls, so a slow call fails DEADLINE_EXCEEDED with a proper
  response instead of Lambda killing the invocation.

Orders calls the catalog in process when both are served here (no network hop, no second
cold start, the catalog's interceptors still run); otherwise over gRPC at `CATALOG_TARGET`.

A scheduled event (EventBridge, `"source": "aws.events"`) runs the periodic work the
containers run on timers: the catalog's reservation expiry sweep and orders' recovery pass
(a frozen execution environment runs no timers between events).

Metrics: with `METRICS_EMF_INTERVAL` above 0 (EMF on, as in the containers) the EMF lines of
what changed are written at the end of every invocation, from the in-process calls' RED
metrics, each service's pool and cache figures and the gateway's routes. A timer would not do:
the environment is frozen between events and may be shut down without another one, which
would lose what it counted since its last flush (Powertools for AWS Lambda flushes per
invocation for the same reason).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from colonnade.gateway.app import Gateway
from colonnade.gateway.config import load as load_gateway_config
from colonnade.gateway.descriptors import load_registry
from colonnade.gateway.exchange import Receive
from colonnade.runtime.auth import TokenSource
from colonnade.runtime.client import Channels
from colonnade.runtime.emf import EmfEmitter
from colonnade.runtime.logging import configure_logging
from colonnade.runtime.observability import Observability
from colonnade.runtime.server import contract_policies, service_interceptors
from colonnade.runtime.settings import Settings, SettingsError
from colonnade.serverless.events import ResponseCollector, is_v2, to_scope
from colonnade.serverless.inprocess import (
    InProcessBackends,
    InProcessChannels,
    InProcessServer,
    invocation_deadline,
)
from colonnade.serverless.secrets import secret_refs, with_secrets

log = logging.getLogger("colonnade.serverless")

SERVICES = ("catalog", "orders")
#: The gateway needs a backend setting to validate; in process it is never dialled.
IN_PROCESS_BACKEND = "*=in-process"


def service_env(service: str, env: Mapping[str, str]) -> dict[str, str]:
    """The environment as `service` reads it: `<SERVICE>_<NAME>` overrides `<NAME>`."""
    prefix = service.upper() + "_"
    out = dict(env)
    for key, value in env.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            out[key[len(prefix) :]] = value
    return out


def services_of(env: Mapping[str, str]) -> list[str]:
    """`COLONNADE_SERVICES` checked (a name that is not a service is a SettingsError)."""
    raw = env.get("COLONNADE_SERVICES", ",".join(SERVICES))
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in SERVICES]
    if unknown or not names:
        raise SettingsError(
            f"COLONNADE_SERVICES must list some of {', '.join(SERVICES)}, got {raw!r}"
        )
    return names


class Function:
    """One execution environment's state: its event loop, gateway and services."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        #: The configuration as given: each cold start reads the secrets it names again.
        self.configured = self.env
        self.loop: asyncio.AbstractEventLoop | None = None
        self.gateway: Gateway | None = None
        self.server: InProcessServer | None = None
        self.pools: dict[str, Any] = {}
        self._periodic: list[tuple[str, Callable[[], Awaitable[Any]]]] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []
        #: The EMF writers flushed after every invocation (empty with EMF off).
        self.emf: list[EmfEmitter] = []
        self.base_path = self.env.get("COLONNADE_LAMBDA_BASE_PATH", "").rstrip("/")
        margin = self.env.get("COLONNADE_LAMBDA_DEADLINE_MARGIN_MS", "500")
        if not margin.isdigit():
            raise SettingsError(
                f"COLONNADE_LAMBDA_DEADLINE_MARGIN_MS must be milliseconds, got {margin!r}"
            )
        self.margin = int(margin) / 1000

    # -- the Lambda entry point ---------------------------------------------------------------

    def __call__(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Handles one event on the environment's event loop (made once, reused)."""
        return self.event_loop().run_until_complete(self.invoke(event, context))

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The execution environment's event loop: made at the first event, then reused."""
        if self.loop is None or self.loop.is_closed():
            try:
                import uvloop

                self.loop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
                self.loop = asyncio.new_event_loop()
        return self.loop

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Cold start: services connected and registered in process, the gateway built."""
        if self.gateway is not None:
            return
        if secret_refs(self.configured):
            self.env = await asyncio.to_thread(with_secrets, self.configured)
        names = services_of(self.env)
        first = Settings.from_env(service_env(names[0], self.env), service_name=names[0])
        if "AWS_LAMBDA_FUNCTION_NAME" in self.env:  # on Lambda, not in a test's process
            _lambda_logging(first.log_level)
        obs = Observability(first.observability())
        own, auth = service_interceptors(first, obs)
        server = InProcessServer(own)
        registered: list[str] = []
        observed = [obs]
        try:
            for name in names:
                registered += await self._open(name, server, observed)
        except BaseException:
            await self._close()
            raise
        if auth is not None:
            auth.policies.update(contract_policies(registered))
        # The gateway's own EMF timer stays off: the function flushes after each event.
        flags = {"backends": [IN_PROCESS_BACKEND], "metrics_emf_interval": "0"}
        cfg = load_gateway_config(env=self.env, flags=flags)
        gateway = Gateway(cfg, load_registry(cfg.descriptors), backends=InProcessBackends(server))
        await gateway.startup()
        self._cleanups.append(gateway.shutdown)
        self.server, self.gateway = server, gateway
        if first.metrics_emf_interval > 0:
            observed.append(gateway.observability)
            for each in observed:
                each.emf.documents()  # the baseline: the first lines count the first event
            self.emf = [each.emf for each in observed]
        log.info("cold start done", extra={"services": registered})

    async def _open(
        self, name: str, server: InProcessServer, observed: list[Observability]
    ) -> list[str]:
        env = service_env(name, self.env)
        if name == "catalog":
            from colonnade.catalog.app import open_catalog

            catalog = await open_catalog(Settings.from_env(env, service_name="catalog"))
            self._cleanups += catalog.cleanups
            self._periodic.append(("catalog_expired", catalog.sweep))
            self.pools[name] = catalog.pool
            observed.append(catalog.observability)
            return catalog.register(server)
        from colonnade.orders.app import OrdersSettings, open_orders

        settings = OrdersSettings.from_env(env)
        in_process = "catalog" in services_of(self.env)

        def channels(obs: Observability, identity: TokenSource | None) -> Channels:
            if not in_process:
                return Channels(obs, identity)
            client = InProcessChannels(server, obs)
            client.identity = identity
            return client

        orders = await open_orders(settings, channels=channels)
        self._cleanups += orders.cleanups
        self._periodic.append(("orders_recovered", orders.recover))
        self.pools[name] = orders.pool
        observed.append(orders.observability)
        return orders.register(server)

    async def _close(self) -> None:
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in reversed(cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")
        self.gateway = self.server = None
        self.pools = {}
        self._periodic = []
        self.flush_metrics()  # what the last events counted, before the pools go
        self.emf = []

    async def stop(self) -> None:
        """Closes the gateway, the pools and the cache clients (the next event cold-starts)."""
        await self._close()

    def reset(self) -> None:
        """Drops every connection (a SnapStart restore, or the runtime's SHUTDOWN): the next
        event connects again on the same loop."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.run_until_complete(self.stop())

    # -- one event ----------------------------------------------------------------------------

    async def invoke(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """Answers one API Gateway proxy event (or runs the periodic work for a schedule)."""
        if self.gateway is None:
            await self.start()
        assert self.gateway is not None
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        deadline = (
            time.monotonic() + remaining() / 1000 - self.margin if remaining is not None else None
        )
        token = invocation_deadline.set(deadline)
        try:
            if event.get("source") == "aws.events":
                return await self.maintenance()
            return await serve_event(self.gateway, event, self.base_path)
        finally:
            invocation_deadline.reset(token)
            self.flush_metrics()

    def flush_metrics(self) -> int:
        """Writes the EMF lines of what changed since the last flush; how many."""
        written = 0
        for emf in self.emf:
            try:
                written += emf.flush()
            except Exception:  # metrics must not fail the request
                log.exception("writing EMF metrics failed")
        return written

    async def maintenance(self) -> dict[str, Any]:
        """The periodic work of the served services, once (expiry sweep, order recovery)."""
        done: dict[str, int] = {}
        for name, work in self._periodic:
            result = await work()  # the holds expired, or how many orders were handled
            done[name] = len(result) if isinstance(result, list) else int(result)
        return {"maintenance": done}


def _lambda_logging(level: str) -> None:
    """JSON lines on stdout as in the containers (CloudWatch Logs reads stdout), in place of
    the handler the Python runtime put on the root logger (else every line came twice)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    configure_logging("colonnade-lambda", level)


async def serve_event(
    gateway: Gateway, event: Mapping[str, Any], base_path: str = ""
) -> dict[str, Any]:
    """One API Gateway proxy event through the gateway's pipeline: the proxy answer."""
    scope, body = to_scope(event, base_path)
    collector = ResponseCollector()
    await gateway.handle(scope, _receive(body), collector)
    return collector.to_result(is_v2(event))


def _receive(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
