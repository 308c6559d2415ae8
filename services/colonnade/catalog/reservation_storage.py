"""Stock reservations in PostgreSQL: each step one transaction, stock never negative.

Lock order is always the reservation's row first, then its products in product-id
order, in every transaction here (reserve, commit, release, expire), so concurrent
reservations of overlapping products wait for each other instead of deadlocking.
The decrement is conditional (``stock >= quantity`` in the same UPDATE), so racing
reservations of the last units sell exactly the units there are. Every stock change
gives the product a new etag and update time, as any other change does.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from colonnade.catalog.model import NAME_PREFIX
from colonnade.catalog.model import RESOURCE_TYPE as PRODUCT_TYPE
from colonnade.catalog.reservations import (
    InsufficientStock,
    Reservation,
    ReservationItem,
    ReservationRequest,
    ReservationState,
)
from colonnade.runtime.db import run_on_pool
from colonnade.runtime.errors import not_found

# The same etag shape as ``domain.new_etag`` (16 hex digits), made by the database.
_NEW_ETAG = "substr(md5(gen_random_uuid()::text), 1, 16)"
_TAKE = (
    f"UPDATE products SET stock = stock - $2, etag = {_NEW_ETAG}, "
    "update_time = clock_timestamp() WHERE id = $1 AND stock >= $2 RETURNING stock"
)
_GIVE_BACK = (
    f"UPDATE products SET stock = stock + $2, etag = {_NEW_ETAG}, "
    "update_time = clock_timestamp() WHERE id = $1"
)
_SET_STATE = "UPDATE reservations SET state = $2, update_time = clock_timestamp() WHERE id = $1"


async def _load(conn: asyncpg.Connection, reservation_id: str) -> tuple[Reservation, str] | None:
    row = await conn.fetchrow(
        "SELECT id, state, fingerprint, expire_time, create_time, update_time "
        "FROM reservations WHERE id = $1",
        reservation_id,
    )
    if row is None:
        return None
    items = await conn.fetch(
        "SELECT product_id, quantity FROM reservation_items WHERE reservation_id = $1 "
        "ORDER BY product_id",
        reservation_id,
    )
    reservation = Reservation(
        id=row["id"],
        items=tuple(ReservationItem(i["product_id"], i["quantity"]) for i in items),
        state=ReservationState(row["state"]),
        expire_time=row["expire_time"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )
    return reservation, row["fingerprint"]


async def _reload(conn: asyncpg.Connection, reservation_id: str) -> Reservation:
    loaded = await _load(conn, reservation_id)
    assert loaded is not None, "read back in the transaction that wrote it"
    return loaded[0]


async def _give_back(conn: asyncpg.Connection, items: Iterable[ReservationItem]) -> None:
    """Return ``items``' stock, in the lock order (a deleted product's is dropped)."""
    for item in sorted(items, key=lambda i: i.product_id):
        await conn.execute(_GIVE_BACK, item.product_id, item.quantity)


class PostgresReservationRepository:
    """The :class:`~colonnade.catalog.reservations.ReservationRepository` on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, str]:
        async def work(conn: asyncpg.Connection) -> tuple[Reservation, str]:
            async with conn.transaction():
                # Concurrent calls with one id queue on this row; the later ones find it.
                created = await conn.fetchval(
                    "INSERT INTO reservations (id, state, fingerprint, expire_time) "
                    "VALUES ($1, 'HELD', $2, clock_timestamp() + $3::interval) "
                    "ON CONFLICT (id) DO NOTHING RETURNING true",
                    request.reservation_id,
                    request.fingerprint,
                    request.ttl,
                )
                if not created:
                    existing = await _load(conn, request.reservation_id)
                    assert existing is not None
                    return existing
                for item in request.items:  # sorted by product id: the lock order
                    left = await conn.fetchval(_TAKE, item.product_id, item.quantity)
                    if left is None:
                        available = await conn.fetchval(
                            "SELECT stock FROM products WHERE id = $1", item.product_id
                        )
                        if available is None:
                            raise not_found(PRODUCT_TYPE, NAME_PREFIX + item.product_id)
                        raise InsufficientStock(item.product_id, available)
                await conn.executemany(
                    "INSERT INTO reservation_items (reservation_id, product_id, quantity) "
                    "VALUES ($1, $2, $3)",
                    [(request.reservation_id, i.product_id, i.quantity) for i in request.items],
                )
                return await _reload(conn, request.reservation_id), request.fingerprint

        return await run_on_pool(self._pool, work)

    async def commit(self, reservation_id: str) -> Reservation | None:
        async def work(conn: asyncpg.Connection) -> Reservation | None:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "SELECT state, expire_time <= clock_timestamp() AS expired "
                    "FROM reservations WHERE id = $1 FOR UPDATE",
                    reservation_id,
                )
                if row is None:
                    return None
                if row["state"] == ReservationState.HELD.value:
                    if row["expired"]:
                        # Past its expiry the hold is dead, swept or not: return the stock now.
                        held = await _reload(conn, reservation_id)
                        await _give_back(conn, held.items)
                        await conn.execute(_SET_STATE, reservation_id, "EXPIRED")
                    else:
                        await conn.execute(_SET_STATE, reservation_id, "COMMITTED")
                return await _reload(conn, reservation_id)

        return await run_on_pool(self._pool, work)

    async def release(self, reservation_id: str) -> Reservation:
        async def work(conn: asyncpg.Connection) -> Reservation:
            async with conn.transaction():
                tombstone = await conn.fetchval(
                    "INSERT INTO reservations (id, state, fingerprint, expire_time) "
                    "VALUES ($1, 'RELEASED', '', clock_timestamp()) "
                    "ON CONFLICT (id) DO NOTHING RETURNING true",
                    reservation_id,
                )
                if not tombstone:
                    state = await conn.fetchval(
                        "SELECT state FROM reservations WHERE id = $1 FOR UPDATE", reservation_id
                    )
                    if state in (ReservationState.HELD.value, ReservationState.COMMITTED.value):
                        current = await _reload(conn, reservation_id)
                        await _give_back(conn, current.items)
                        await conn.execute(_SET_STATE, reservation_id, "RELEASED")
                return await _reload(conn, reservation_id)

        return await run_on_pool(self._pool, work)

    async def expire(self, limit: int) -> list[Reservation]:
        async def work(conn: asyncpg.Connection) -> list[Reservation]:
            expired: list[Reservation] = []
            while len(expired) < limit:
                # One hold per transaction, skipping holds another replica is expiring.
                async with conn.transaction():
                    reservation_id = await conn.fetchval(
                        "SELECT id FROM reservations WHERE state = 'HELD' "
                        "AND expire_time <= clock_timestamp() ORDER BY expire_time "
                        "LIMIT 1 FOR UPDATE SKIP LOCKED"
                    )
                    if reservation_id is None:
                        break
                    held = await _reload(conn, reservation_id)
                    await _give_back(conn, held.items)
                    await conn.execute(_SET_STATE, reservation_id, "EXPIRED")
                    expired.append(await _reload(conn, reservation_id))
            return expired

        return await run_on_pool(self._pool, work)
