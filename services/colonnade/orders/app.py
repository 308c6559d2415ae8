"""Wiring: settings → pool, catalog client, saga, servicer → a ready gRPC server."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg

from colonnade.orders.saga import Orders, Timings
from colonnade.orders.servicer import SERVICE_NAME, OrdersServicer
from colonnade.orders.stock import CatalogStock
from colonnade.orders.storage import PostgresOrderRepository
from colonnade.orders.v1 import orders_pb2_grpc
from colonnade.runtime.auth import AuthError, TokenSource
from colonnade.runtime.client import Channels, identity_from_settings
from colonnade.runtime.clientcredentials import ClientCredentials
from colonnade.runtime.config import parse_duration
from colonnade.runtime.db import create_pool, migrate, wait_for_database
from colonnade.runtime.entrypoint import run_service
from colonnade.runtime.observability import Observability
from colonnade.runtime.periodic import start_periodic
from colonnade.runtime.server import ServiceServer, build_server
from colonnade.runtime.settings import Settings, SettingsError

COMPONENT = "orders"
MIGRATIONS = "colonnade.orders.migrations"
#: Seconds between recovery passes (one also runs at start-up).
RECOVERY_INTERVAL = 30.0
#: Seconds an order may owe a step before the recovery pass takes it over.
RECOVERY_GRACE = Timings().recovery_grace.total_seconds()
DEFAULT_CATALOG_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True, slots=True)
class OrdersSettings:
    """The runtime's settings plus what only orders needs, read once at start-up."""

    runtime: Settings
    #: Where the catalog is: ``host:port`` (every address it resolves to gets calls), or
    #: gRPC's ``ipv4:host:port,host:port`` naming several instances.
    catalog_target: str = DEFAULT_CATALOG_TARGET
    #: Seconds between recovery passes (``ORDERS_RECOVERY_INTERVAL``).
    recovery_interval: float = RECOVERY_INTERVAL
    #: How long an order may owe a step before recovery takes it over
    #: (``ORDERS_RECOVERY_GRACE``): longer than any CreateOrder call runs.
    recovery_grace: float = RECOVERY_GRACE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrdersSettings:
        """``CATALOG_TARGET``, ``ORDERS_RECOVERY_*`` and every runtime setting
        (:meth:`Settings.from_env`)."""
        env = os.environ if environ is None else environ
        target = env.get("CATALOG_TARGET", DEFAULT_CATALOG_TARGET).strip()
        several = target.startswith("ipv4:")
        addresses = target.removeprefix("ipv4:").split(",") if several else [target]
        for address in addresses:
            host, sep, port = address.strip().rpartition(":")
            if (
                not sep
                or not host
                or "," in host
                or not port.isdigit()
                or not 0 < int(port) < 65536
            ):
                raise SettingsError(
                    "CATALOG_TARGET must look like host:port (or ipv4:host:port,host:port), "
                    f"got {target!r}"
                )
        interval = parse_duration(
            "ORDERS_RECOVERY_INTERVAL", env.get("ORDERS_RECOVERY_INTERVAL", RECOVERY_INTERVAL), 0.1
        )
        grace = parse_duration(
            "ORDERS_RECOVERY_GRACE",
            env.get("ORDERS_RECOVERY_GRACE", RECOVERY_GRACE),
            1.0,
        )
        return cls(Settings.from_env(env, service_name="orders"), target, interval, grace)


@dataclass
class OrdersWiring:
    """Orders' parts before any server: what registers the servicer, the recovery pass,
    and what to close."""

    register: Callable[[Any], list[str]]
    observability: Observability
    pool: asyncpg.Pool
    recover: Callable[[], Awaitable[Any]]
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def open_orders(
    settings: OrdersSettings,
    *,
    timings: Timings | None = None,
    channels: Callable[[Observability, TokenSource | None], Channels] = Channels,
) -> OrdersWiring:
    """Connect to PostgreSQL, migrate, and wire the saga and servicer; ``channels`` makes
    the client that reaches the catalog (over gRPC, or in process on Lambda)."""
    runtime = settings.runtime
    await wait_for_database(runtime)
    if runtime.db_migrate:
        await migrate(runtime, COMPONENT, MIGRATIONS)
    identity = identity_from_settings(runtime)
    if isinstance(identity, ClientCredentials):
        try:  # its first token now: a wrong secret or endpoint stops the task here
            await identity.start()
        except AuthError as exc:
            raise ConnectionError(f"orders' identity: {exc.message}") from None
    obs = Observability(runtime.observability())
    pool = await create_pool(runtime, obs)
    client = channels(obs, identity)
    orders = Orders(
        PostgresOrderRepository(pool),
        CatalogStock(client, settings.catalog_target),
        timings or Timings(recovery_grace=timedelta(seconds=settings.recovery_grace)),
    )

    def register(server: Any) -> list[str]:
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(OrdersServicer(orders), server)
        return [SERVICE_NAME]

    cleanups = [pool.close, client.close]
    if isinstance(identity, ClientCredentials):
        cleanups.append(identity.close)
    return OrdersWiring(register, obs, pool, orders.recover, cleanups)


async def create_server(
    settings: OrdersSettings,
    *,
    timings: Timings | None = None,
    recovery_interval: float | None = None,
) -> tuple[ServiceServer, int]:
    """Connect to PostgreSQL, migrate, and build the (not yet started) server.

    The recovery pass runs once right away and then every ``recovery_interval`` seconds
    (default: the settings'), finishing or compensating orders a crash left between saga
    steps once they are older than the settings' grace (unless ``timings`` says otherwise).
    """
    if recovery_interval is None:
        recovery_interval = settings.recovery_interval
    wiring = await open_orders(settings, timings=timings)
    server, port = build_server(
        settings.runtime, wiring.register, observability=wiring.observability
    )
    for cleanup in wiring.cleanups:
        server.add_cleanup(cleanup)
    server.add_cleanup(start_periodic("order recovery", recovery_interval, wiring.recover))
    return server, port


def main() -> int:
    """``python -m colonnade.orders`` / ``colonnade-orders``: run until SIGTERM."""
    return run_service(
        "colonnade-orders",
        OrdersSettings.from_env,
        lambda settings: settings.runtime,
        create_server,
    )
