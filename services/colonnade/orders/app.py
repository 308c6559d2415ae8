"""Wiring: settings → pool, catalog client, saga, servicer → a ready gRPC server."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from colonnade.orders.saga import Orders, Timings
from colonnade.orders.servicer import SERVICE_NAME, OrdersServicer
from colonnade.orders.stock import CatalogStock
from colonnade.orders.storage import PostgresOrderRepository
from colonnade.orders.v1 import orders_pb2_grpc
from colonnade.runtime.auth import AuthError
from colonnade.runtime.client import Channels, identity_from_settings
from colonnade.runtime.clientcredentials import ClientCredentials
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
DEFAULT_CATALOG_TARGET = "127.0.0.1:50051"


@dataclass(frozen=True, slots=True)
class OrdersSettings:
    """The runtime's settings plus what only orders needs, read once at start-up."""

    runtime: Settings
    #: Where the catalog is: ``host:port`` (every address it resolves to gets calls).
    catalog_target: str = DEFAULT_CATALOG_TARGET

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> OrdersSettings:
        """``CATALOG_TARGET`` and every runtime setting (:meth:`Settings.from_env`)."""
        env = os.environ if environ is None else environ
        target = env.get("CATALOG_TARGET", DEFAULT_CATALOG_TARGET).strip()
        host, sep, port = target.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(f"CATALOG_TARGET must look like host:port, got {target!r}")
        return cls(Settings.from_env(env, service_name="orders"), target)


async def create_server(
    settings: OrdersSettings,
    *,
    timings: Timings | None = None,
    recovery_interval: float = RECOVERY_INTERVAL,
) -> tuple[ServiceServer, int]:
    """Connect to PostgreSQL, migrate, and build the (not yet started) server.

    The recovery pass runs once right away and then every ``recovery_interval`` seconds,
    finishing or compensating orders a crash left between saga steps.
    """
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
    channels = Channels(obs, identity)
    orders = Orders(
        PostgresOrderRepository(pool),
        CatalogStock(channels, settings.catalog_target),
        timings or Timings(),
    )

    def register(server: object) -> list[str]:
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(OrdersServicer(orders), server)
        return [SERVICE_NAME]

    server, port = build_server(runtime, register, observability=obs)
    server.add_cleanup(pool.close)
    server.add_cleanup(channels.close)
    if isinstance(identity, ClientCredentials):
        server.add_cleanup(identity.close)
    server.add_cleanup(start_periodic("order recovery", recovery_interval, orders.recover))
    return server, port


def main() -> int:
    """``python -m colonnade.orders`` / ``colonnade-orders``: run until SIGTERM."""
    return run_service(
        "colonnade-orders",
        OrdersSettings.from_env,
        lambda settings: settings.runtime,
        create_server,
    )
