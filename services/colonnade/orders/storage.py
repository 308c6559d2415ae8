"""Orders in PostgreSQL through asyncpg.

Every state change is one conditional UPDATE (the expected state and step in its WHERE),
so of two concurrent attempts exactly one moves the order and the other learns where it
is. A create with a request id already used inserts nothing (``ON CONFLICT``) and returns
the order that id placed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import asyncpg

from colonnade.orders.listing import OrderQuery
from colonnade.orders.model import LineItem, Order, OrderDraft, OrderState, Step, order_total
from colonnade.orders.saga import OrderRepository
from colonnade.runtime.db import run_on_pool
from colonnade.runtime.money import Money

_COLUMNS = (
    "id, state, step, currency_code, total_units, total_nanos, version, create_time, update_time"
)
_ITEMS = (
    "SELECT order_id, product, quantity, price_units, price_nanos FROM order_items "
    "WHERE order_id = ANY($1::text[]) ORDER BY order_id, position"
)
_COMPARISONS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


async def _orders(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> list[Order]:
    """Orders from their rows, with their line items read in one more query."""
    items: dict[str, list[LineItem]] = {row["id"]: [] for row in rows}
    for item in await conn.fetch(_ITEMS, list(items)):
        currency = next(r["currency_code"] for r in rows if r["id"] == item["order_id"])
        items[item["order_id"]].append(
            LineItem(
                item["product"],
                item["quantity"],
                Money(currency, item["price_units"], item["price_nanos"]),
            )
        )
    return [
        Order(
            id=row["id"],
            line_items=tuple(items[row["id"]]),
            currency_code=row["currency_code"],
            state=OrderState(row["state"]),
            step=None if row["step"] is None else Step(row["step"]),
            total=Money(row["currency_code"], row["total_units"], row["total_nanos"]),
            version=row["version"],
            create_time=row["create_time"],
            update_time=row["update_time"],
        )
        for row in rows
    ]


async def _one(conn: asyncpg.Connection, sql: str, *args: Any) -> Order | None:
    row = await conn.fetchrow(sql, *args)
    return None if row is None else (await _orders(conn, [row]))[0]


def build_list_sql(query: OrderQuery, limit: int) -> tuple[str, list[Any]]:
    """The SELECT for one page of ``query``, newest first (exposed for tests)."""
    params: list[Any] = []
    where: list[str] = []
    for condition in query.conditions:
        value = condition.value
        params.append(value.value if isinstance(value, OrderState) else value)
        where.append(f"{condition.field} {_COMPARISONS[condition.op]} ${len(params)}")
    if query.after is not None:
        params.extend(query.after)
        where.append(f"(create_time, id) < (${len(params) - 1}, ${len(params)})")
    params.append(limit)
    sql = f"SELECT {_COLUMNS} FROM orders"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY create_time DESC, id DESC LIMIT ${len(params)}", params


class PostgresOrderRepository(OrderRepository):
    """The :class:`~colonnade.orders.saga.OrderRepository` on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def insert(self, order_id: str, draft: OrderDraft, items: Sequence[LineItem]) -> Order:
        total = order_total(draft.currency_code, items)

        async def work(conn: asyncpg.Connection) -> Order | None:
            async with conn.transaction():
                inserted = await _one(
                    conn,
                    "INSERT INTO orders (id, request_id, fingerprint, state, step, currency_code, "
                    "total_units, total_nanos) VALUES ($1, $2, $3, 'PENDING', 'RESERVE', $4, $5, "
                    f"$6) ON CONFLICT (request_id) DO NOTHING RETURNING {_COLUMNS}",
                    order_id,
                    draft.request_id,
                    draft.fingerprint,
                    draft.currency_code,
                    total.units,
                    total.nanos,
                )
                if inserted is None:
                    return None
                await conn.executemany(
                    "INSERT INTO order_items (order_id, position, product, quantity, price_units, "
                    "price_nanos) VALUES ($1, $2, $3, $4, $5, $6)",
                    [
                        (order_id, n, i.product, i.quantity, i.unit_price.units, i.unit_price.nanos)
                        for n, i in enumerate(items)
                    ],
                )
                return await _one(conn, f"SELECT {_COLUMNS} FROM orders WHERE id = $1", order_id)

        order = await run_on_pool(self._pool, work)
        if order is None:  # the request id placed an order first (a concurrent retry)
            assert draft.request_id is not None
            order = await self.by_request_id(draft.request_id)
            assert order is not None, "an order keeps its request id until it is deleted"
        return order

    async def fingerprint(self, order_id: str) -> str:
        value = await run_on_pool(
            self._pool,
            lambda c: c.fetchval("SELECT fingerprint FROM orders WHERE id = $1", order_id),
        )
        return str(value or "")

    async def by_request_id(self, request_id: str) -> Order | None:
        return await run_on_pool(
            self._pool,
            lambda c: _one(c, f"SELECT {_COLUMNS} FROM orders WHERE request_id = $1", request_id),
        )

    async def get(self, order_id: str) -> Order | None:
        return await run_on_pool(
            self._pool, lambda c: _one(c, f"SELECT {_COLUMNS} FROM orders WHERE id = $1", order_id)
        )

    async def advance(
        self,
        order_id: str,
        expected: tuple[OrderState, Step | None],
        new: tuple[OrderState, Step | None],
    ) -> Order | None:
        (state, step), (new_state, new_step) = expected, new
        return await run_on_pool(
            self._pool,
            lambda c: _one(
                c,
                "UPDATE orders SET state = $4, step = $5, version = version + 1, "
                "update_time = clock_timestamp() "
                "WHERE id = $1 AND state = $2 AND step IS NOT DISTINCT FROM $3 "
                f"RETURNING {_COLUMNS}",
                order_id,
                state.value,
                None if step is None else step.value,
                new_state.value,
                None if new_step is None else new_step.value,
            ),
        )

    async def delete_pending(self, order_id: str) -> None:
        await run_on_pool(
            self._pool,
            lambda c: c.execute("DELETE FROM orders WHERE id = $1 AND state = 'PENDING'", order_id),
        )

    async def list(self, query: OrderQuery, limit: int) -> list[Order]:
        sql, params = build_list_sql(query, limit)

        async def work(conn: asyncpg.Connection) -> list[Order]:
            return await _orders(conn, await conn.fetch(sql, *params))

        return await run_on_pool(self._pool, work)

    async def claim_owing(self, older_than: timedelta) -> Order | None:
        # The lease is the update time: a claimed order is not claimed again for a grace.
        return await run_on_pool(
            self._pool,
            lambda c: _one(
                c,
                "UPDATE orders SET update_time = clock_timestamp() WHERE id = ("
                "SELECT id FROM orders WHERE step IS NOT NULL "
                "AND update_time <= clock_timestamp() - $1::interval "
                "ORDER BY update_time LIMIT 1 FOR UPDATE SKIP LOCKED) "
                f"RETURNING {_COLUMNS}",
                older_than,
            ),
        )
