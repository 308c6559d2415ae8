"""The service pool's held connections (colonnade.runtime.dbpool) on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from colonnade.runtime.db import create_pool, run_on_pool
from colonnade.runtime.dbpool import HoldingPool
from colonnade.runtime.errors import DomainError
from colonnade.runtime.observability import Observability
from colonnade.runtime.settings import Settings

pytestmark = pytest.mark.timeout(60)


def settings(database_url: str, pool_min: int, pool_max: int = 3) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "DB_POOL_MIN": str(pool_min),
            "DB_POOL_MAX": str(pool_max),
        },
        service_name="dbpool",
    )


async def backend(pool: Any) -> int:
    pid: int = await run_on_pool(pool, lambda c: c.fetchval("SELECT pg_backend_pid()"))
    return pid


@pytest.mark.parametrize("observed", [False, True], ids=["plain", "observed"])
async def test_a_call_reuses_the_held_connection_without_acquiring(
    database_url: str, observed: bool
) -> None:
    config = settings(database_url, 1)
    obs = Observability(config.observability()) if observed else None
    pool = await create_pool(config, obs)
    try:
        assert isinstance(pool, HoldingPool)
        first = await backend(pool)
        assert pool.get_idle_size() == pool.get_size() == 1, "the held connection counts as idle"
        # asyncpg makes a new proxy object per acquisition: the same object means none.
        lent: list[Any] = []

        async def pid_of(conn: Any, sql: str = "SELECT pg_backend_pid()") -> int:
            lent.append(conn)
            pid: int = await conn.fetchval(sql)
            return pid

        assert [await run_on_pool(pool, pid_of) for _ in range(5)] == [first] * 5
        assert len({id(c) for c in lent}) == 1
        # Two at once: the second acquires a connection of its own, released afterwards.
        slow = "SELECT pg_backend_pid() FROM pg_sleep(0.2)"
        pids = await asyncio.gather(
            run_on_pool(pool, lambda c: pid_of(c, slow)),
            run_on_pool(pool, lambda c: pid_of(c, slow)),
        )
        assert len(set(pids)) == 2 and lent[5] is lent[0] and lent[6] is not lent[0]
        assert pool.get_idle_size() == pool.get_size() == 2
    finally:
        await asyncio.wait_for(pool.close(), 10)


async def test_calls_waiting_for_a_pool_of_one_get_the_connection(database_url: str) -> None:
    pool = await create_pool(settings(database_url, 1, 1))
    try:
        await backend(pool)  # now held
        slow = "SELECT pg_backend_pid() FROM pg_sleep(0.05)"
        calls = (run_on_pool(pool, lambda c: c.fetchval(slow)) for _ in range(6))
        pids = await asyncio.wait_for(asyncio.gather(*calls), 10)
        assert len(set(pids)) == 1, "one connection, lent and released in turn"
    finally:
        await asyncio.wait_for(pool.close(), 10)


async def test_a_failed_call_hands_its_connection_back_to_the_pool(database_url: str) -> None:
    pool = await create_pool(settings(database_url, 1))
    try:
        first = await backend(pool)

        async def fails(conn: Any) -> None:
            async with conn.transaction():
                await conn.execute("SELECT 1/0")

        with pytest.raises(asyncpg.DivisionByZeroError):
            await run_on_pool(pool, fails)
        assert pool.lend() is None, "a connection a call failed on is not kept"
        assert await backend(pool) == first, "the pool got it back in good order"
    finally:
        await asyncio.wait_for(pool.close(), 10)


async def test_a_killed_held_connection_is_unavailable_once_then_replaced(
    database_url: str,
) -> None:
    pool = await create_pool(settings(database_url, 1))
    try:
        first = await backend(pool)
        admin = await asyncpg.connect(database_url)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        try:
            again = await backend(pool)  # asyncpg may already have noticed the closed socket
        except DomainError as exc:
            assert exc.message.startswith("database is unavailable")
            again = await backend(pool)
        assert again != first
    finally:
        await asyncio.wait_for(pool.close(), 10)


async def test_pool_min_zero_holds_nothing_and_close_returns_held_ones(database_url: str) -> None:
    pool = await create_pool(settings(database_url, 0))
    try:
        await backend(pool)
        assert pool.lend() is None
    finally:
        await asyncio.wait_for(pool.close(), 10)
    held = await create_pool(settings(database_url, 1))
    await backend(held)
    await asyncio.wait_for(held.close(), 10)  # would wait for the held one forever otherwise
    assert held.lend() is None
