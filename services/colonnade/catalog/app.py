"""Wiring: settings → pool, cache, domain, servicer → a ready gRPC server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from colonnade.catalog import servicer_v2
from colonnade.catalog.caching import (
    CachedProductRepository,
    CachedReservationRepository,
    product_cache,
)
from colonnade.catalog.domain import Catalog
from colonnade.catalog.reservation_storage import PostgresReservationRepository
from colonnade.catalog.reservations import StockReservations
from colonnade.catalog.servicer import SERVICE_NAME, CatalogServicer
from colonnade.catalog.storage import PostgresProductRepository
from colonnade.catalog.v1 import catalog_pb2_grpc
from colonnade.catalog.v2 import catalog_pb2_grpc as catalog_v2_pb2_grpc
from colonnade.runtime.cachecluster import CacheCluster
from colonnade.runtime.db import create_pool, migrate, wait_for_database
from colonnade.runtime.entrypoint import run_service
from colonnade.runtime.observability import Observability
from colonnade.runtime.periodic import start_periodic
from colonnade.runtime.server import ServiceServer, build_server
from colonnade.runtime.settings import Settings

COMPONENT = "catalog"
MIGRATIONS = "colonnade.catalog.migrations"
#: Seconds between expiry sweeps: how long an expired hold's stock may stay unsellable.
SWEEP_INTERVAL = 5.0


@dataclass
class CatalogWiring:
    """The catalog's parts before any server: what registers the servicers on a server
    (grpc.aio's, or the in-process one on Lambda), the expiry sweep, and what to close."""

    register: Callable[[Any], list[str]]
    observability: Observability
    pool: asyncpg.Pool
    sweep: Callable[[], Awaitable[Any]]
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def open_catalog(settings: Settings) -> CatalogWiring:
    """Connect to PostgreSQL and memcached, migrate, and wire domain and servicers.

    Migrations run here unless ``DB_MIGRATE=false`` (in AWS ``colonnade-migrate`` ran them
    before the rollout). A configuration error (:class:`SettingsError`: a TLS certificate
    that fails verification, a plaintext client against a TLS-only cache…) raises at once.
    """
    await wait_for_database(settings)
    if settings.db_migrate:
        await migrate(settings, COMPONENT, MIGRATIONS)
    obs = Observability(settings.observability())
    cluster = CacheCluster.from_settings(settings)
    if cluster is not None:
        cluster.observe(obs)
        await cluster.start()
    try:
        pool = await create_pool(settings, obs)
    except BaseException:
        if cluster is not None:
            await cluster.close()
        raise
    cache = product_cache(cluster, settings.cache_ttl_seconds, settings.cache_local_ttl)
    catalog = Catalog(CachedProductRepository(PostgresProductRepository(pool), cache))
    reservations = StockReservations(
        CachedReservationRepository(PostgresReservationRepository(pool), cache)
    )

    def register(server: Any) -> list[str]:
        # v1 and v2 side by side on one Catalog: one table, one cache, two vocabularies.
        # Products are the same object read after read only from the cache's hot entries.
        servicer = CatalogServicer(catalog, reservations, shared_products=cache.hot)
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)
        catalog_v2_pb2_grpc.add_CatalogServiceServicer_to_server(
            servicer_v2.CatalogServicerV2(catalog, shared_products=cache.hot), server
        )
        return [SERVICE_NAME, servicer_v2.SERVICE_NAME]

    cleanups: list[Callable[[], Awaitable[None]]] = [pool.close]
    if cluster is not None:
        cleanups.append(cluster.close)
    return CatalogWiring(register, obs, pool, reservations.expire, cleanups)


async def create_server(
    settings: Settings, *, sweep_interval: float = SWEEP_INTERVAL
) -> tuple[ServiceServer, int]:
    """Connect to PostgreSQL and memcached, migrate, and build the (not yet started) server
    (:func:`open_catalog`)."""
    wiring = await open_catalog(settings)
    server, port = build_server(settings, wiring.register, observability=wiring.observability)
    for cleanup in wiring.cleanups:
        server.add_cleanup(cleanup)
    # Every replica sweeps (SKIP LOCKED keeps them off each other's rows); added last, so it
    # stops first, while the pool and the cache are still open.
    server.add_cleanup(start_periodic("reservation expiry sweep", sweep_interval, wiring.sweep))
    return server, port


def main() -> int:
    """``python -m colonnade.catalog`` / ``colonnade-catalog``: run until SIGTERM."""
    return run_service(
        "colonnade-catalog",
        lambda: Settings.from_env(service_name="catalog"),
        lambda settings: settings,
        create_server,
    )
