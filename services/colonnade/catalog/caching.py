"""The product cache as repository wrappers: reads through memcached, writes invalidate.

:class:`CachedProductRepository` is a :class:`~colonnade.catalog.domain.ProductRepository`
around another one, so the use cases know nothing of caching;
:class:`CachedReservationRepository` invalidates the products whose stock a reservation
changed. Entries are the product's
:data:`~colonnade.catalog.model.COLUMNS` as a JSON array (timestamps in ISO 8601).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from colonnade.catalog.domain import ListQuery, ProductRepository
from colonnade.catalog.model import (
    COLUMNS,
    TIMESTAMP_COLUMNS,
    Product,
    product_from_values,
    product_values,
)
from colonnade.catalog.reservations import Reservation, ReservationRepository, ReservationRequest
from colonnade.runtime.cache import ReadThroughCache
from colonnade.runtime.cachecluster import CacheCluster

#: The cache key namespace; a new codec gets a new namespace rather than reading old entries.
NAMESPACE = "catalog:v1:product"
_TIMESTAMP_POSITIONS = frozenset(i for i, c in enumerate(COLUMNS) if c in TIMESTAMP_COLUMNS)


def encode_product(product: Product) -> bytes:
    """Compact bytes for the cache."""
    return orjson.dumps(
        [v.isoformat() if isinstance(v, datetime) else v for v in product_values(product)]
    )


def decode_product(data: bytes) -> Product:
    """The product :func:`encode_product` wrote."""
    values = orjson.loads(data)
    return product_from_values(
        [
            datetime.fromisoformat(v) if i in _TIMESTAMP_POSITIONS else v
            for i, v in enumerate(values)
        ]
    )


def product_cache(
    cluster: CacheCluster | None, ttl: int, local_ttl: float = 0.0
) -> ReadThroughCache[Product]:
    """The products' cache on ``cluster`` (``None``: no caching), shared by both wrappers;
    ``local_ttl``: seconds a product is also served from this process's memory."""
    return ReadThroughCache(
        cluster,
        namespace=NAMESPACE,
        encode=encode_product,
        decode=decode_product,
        ttl=ttl,
        local_ttl=local_ttl,
    )


class CachedProductRepository:
    """Reads single products through a :class:`ReadThroughCache`; writes invalidate them."""

    def __init__(self, repository: ProductRepository, cache: ReadThroughCache[Product]) -> None:
        self._repository = repository
        self._cache = cache

    async def get(self, product_id: str) -> Product | None:
        return await self._cache.get_or_load(product_id, lambda: self._repository.get(product_id))

    async def insert(self, product: Product) -> Product:
        # Creates do not fill the cache: the first read does.
        return await self._repository.insert(product)

    async def update(
        self, product_id: str, changes: dict[str, Any], expected_etag: str | None, new_etag: str
    ) -> Product:
        updated = await self._repository.update(product_id, changes, expected_etag, new_etag)
        await self._cache.invalidate(product_id)
        return updated

    async def delete(self, product_id: str, expected_etag: str | None) -> None:
        await self._repository.delete(product_id, expected_etag)
        await self._cache.invalidate(product_id)

    async def list(self, query: ListQuery, limit: int) -> list[Product]:
        return await self._repository.list(query, limit)


class CachedReservationRepository:
    """Invalidates the cached products whose stock a reservation step changed."""

    def __init__(self, repository: ReservationRepository, cache: ReadThroughCache[Product]) -> None:
        self._repository = repository
        self._cache = cache

    async def _invalidate(self, reservations: Iterable[Reservation]) -> None:
        for product_id in sorted({i.product_id for r in reservations for i in r.items}):
            await self._cache.invalidate(product_id)

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, str]:
        reserved = await self._repository.reserve(request)
        await self._invalidate([reserved[0]])
        return reserved

    async def commit(self, reservation_id: str) -> Reservation | None:
        committed = await self._repository.commit(reservation_id)
        if committed is not None:  # an expired hold's stock came back on the way
            await self._invalidate([committed])
        return committed

    async def release(self, reservation_id: str) -> Reservation:
        released = await self._repository.release(reservation_id)
        await self._invalidate([released])
        return released

    async def expire(self, limit: int) -> list[Reservation]:
        expired = await self._repository.expire(limit)
        await self._invalidate(expired)
        return expired
