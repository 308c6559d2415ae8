"""Products in PostgreSQL through asyncpg.

Queries take parameters only; column names come from fixed tables below, never
from input. Updates and deletes are single statements guarded by the etag, so
of two concurrent writers holding the same etag exactly one wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from colonnade.catalog.domain import ListQuery
from colonnade.catalog.model import (
    COLUMNS,
    RESOURCE_TYPE,
    TIMESTAMP_COLUMNS,
    Product,
    product_from_values,
    product_values,
)
from colonnade.runtime.db import run_on_pool
from colonnade.runtime.errors import DomainError, already_exists, etag_mismatch, not_found

T = TypeVar("T")

_COLUMNS = ", ".join(COLUMNS)
#: One product by id (the bench's database floor issues exactly this statement).
GET_SQL = f"SELECT {_COLUMNS} FROM products WHERE id = $1"
# An insert writes every column; the timestamps are the database's clock, read once so a new
# product's update_time equals its create_time (two clock_timestamp() defaults may differ).
_INSERTED = [i for i, column in enumerate(COLUMNS) if column not in TIMESTAMP_COLUMNS]
_INSERT_SQL = (
    f"INSERT INTO products ({', '.join(COLUMNS[i] for i in _INSERTED)}, create_time, update_time) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(_INSERTED) + 1))}, "
    "statement_timestamp(), statement_timestamp()) "
    f"RETURNING {_COLUMNS}"
)
# What an update may set: not the identity, the timestamps or the etag (set per write).
_UPDATABLE_COLUMNS = frozenset(COLUMNS) - TIMESTAMP_COLUMNS - {"id", "etag"}
# Sort field → columns (price sorts by units then nanos).
_SORT_COLUMNS = {
    "title": ("title",),
    "sku": ("sku",),
    "category": ("category",),
    "price": ("price_units", "price_nanos"),
    "stock": ("stock",),
    "create_time": ("create_time",),
    "update_time": ("update_time",),
}
_COMPARISONS = {"=", "!=", "<", "<=", ">", ">="}
# Filter field compared to a string → its column.
_STRING_FILTER_COLUMNS = {"category": "category", "title": "title"}


def _row_to_product(row: asyncpg.Record) -> Product:
    """A row selected as ``_COLUMNS`` (every query here selects exactly those)."""
    return product_from_values(tuple(row.values()))


def _keyset_condition(
    columns: list[tuple[str, bool]], values: tuple[Any, ...], params: list[Any]
) -> str:
    """``(a, b) > (x, y)`` generalised to mixed directions: an OR of prefixes."""
    alternatives = []
    for i, (column, descending) in enumerate(columns):
        terms = []
        for j in range(i):
            params.append(values[j])
            terms.append(f"{columns[j][0]} = ${len(params)}")
        params.append(values[i])
        terms.append(f"{column} {'<' if descending else '>'} ${len(params)}")
        alternatives.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(alternatives) + ")"


def build_list_sql(query: ListQuery, limit: int) -> tuple[str, list[Any]]:
    """The SELECT for one page of ``query`` (exposed for tests)."""
    params: list[Any] = []
    where: list[str] = []
    for condition in query.conditions:
        if condition.op not in _COMPARISONS:
            raise ValueError(f"unsupported operator {condition.op!r}")
        if condition.field in _STRING_FILTER_COLUMNS:
            params.append(condition.value)
            column = _STRING_FILTER_COLUMNS[condition.field]
            where.append(f"{column} {condition.op} ${len(params)}")
        elif condition.field == "price":
            units, nanos = condition.value
            params.extend([units, nanos])
            op = "<>" if condition.op == "!=" else condition.op
            where.append(f"(price_units, price_nanos) {op} (${len(params) - 1}, ${len(params)})")
    columns: list[tuple[str, bool]] = [
        (column, key.descending) for key in query.order for column in _SORT_COLUMNS[key.field]
    ]
    columns.append(("id", False))
    if query.after is not None:
        where.append(_keyset_condition(columns, query.after, params))
    order = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in columns)
    params.append(limit)
    sql = f"SELECT {_COLUMNS} FROM products"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return f"{sql} ORDER BY {order} LIMIT ${len(params)}", params


async def _why_unchanged(conn: asyncpg.Connection, product_id: str) -> DomainError:
    """An etag-guarded write touched no row: the product is gone, or its etag moved on."""
    exists = await conn.fetchval("SELECT 1 FROM products WHERE id = $1", product_id)
    name = f"products/{product_id}"
    return etag_mismatch(RESOURCE_TYPE, name) if exists else not_found(RESOURCE_TYPE, name)


class PostgresProductRepository:
    """The :class:`~colonnade.catalog.domain.ProductRepository` on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def _run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return await run_on_pool(self._pool, work)

    async def get(self, product_id: str) -> Product | None:
        row = await self._run(lambda c: c.fetchrow(GET_SQL, product_id))
        return None if row is None else _row_to_product(row)

    async def insert(self, product: Product) -> Product:
        values = product_values(product)

        async def work(conn: asyncpg.Connection) -> asyncpg.Record:
            return await conn.fetchrow(_INSERT_SQL, *(values[i] for i in _INSERTED))

        try:
            row = await self._run(work)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "products_sku_key":
                raise already_exists(RESOURCE_TYPE, "sku", product.sku) from exc
            raise already_exists(RESOURCE_TYPE, "name", product.name) from exc
        return _row_to_product(row)

    async def update(
        self, product_id: str, changes: dict[str, Any], expected_etag: str | None, new_etag: str
    ) -> Product:
        unknown = set(changes) - _UPDATABLE_COLUMNS
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        params: list[Any] = [product_id, expected_etag, new_etag]
        assignments = []
        for column, value in changes.items():
            params.append(value)
            assignments.append(f"{column} = ${len(params)}")
        sql = (
            f"UPDATE products SET {', '.join(assignments)}, etag = $3, "
            "update_time = clock_timestamp() "
            f"WHERE id = $1 AND ($2::text IS NULL OR etag = $2) RETURNING {_COLUMNS}"
        )

        async def work(conn: asyncpg.Connection) -> asyncpg.Record | None:
            row = await conn.fetchrow(sql, *params)
            if row is None:
                raise await _why_unchanged(conn, product_id)
            return row

        try:
            row = await self._run(work)
        except asyncpg.UniqueViolationError as exc:
            raise already_exists(RESOURCE_TYPE, "sku", str(changes.get("sku", ""))) from exc
        assert row is not None
        return _row_to_product(row)

    async def delete(self, product_id: str, expected_etag: str | None) -> None:
        async def work(conn: asyncpg.Connection) -> None:
            deleted = await conn.fetchval(
                "DELETE FROM products WHERE id = $1 AND ($2::text IS NULL OR etag = $2) "
                "RETURNING 1",
                product_id,
                expected_etag,
            )
            if deleted is None:
                raise await _why_unchanged(conn, product_id)

        await self._run(work)

    async def list(self, query: ListQuery, limit: int) -> list[Product]:
        sql, params = build_list_sql(query, limit)
        rows = await self._run(lambda c: c.fetch(sql, *params))
        return [_row_to_product(r) for r in rows]
