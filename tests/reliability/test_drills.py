"""Fault drills and a ledger run against the whole system on loopback (issue 20).

One stack for the file (``stack.py``: real PostgreSQL, memcached, two catalog and two orders
processes, the gateway); each drill runs under a steady REST and gRPC load (``load.py``),
breaks one thing, restores it, and checks what the clients saw and what the database holds.
Each prints a one-line summary and writes its figures to ``build/reliability/<drill>.json``.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.integration.helpers import memcached_stats
from tests.reliability.load import (
    DEADLINE,
    Load,
    check_ledger,
    database,
    report,
    settled,
    summarise,
)
from tests.reliability.stack import HOST, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The products the load reads and orders (stock far above what the drills sell).
LOAD_PRODUCTS = [f"rel-load-{i}" for i in range(4)]
INITIAL_STOCK = 1_000_000
#: The resident memory every service process must stay under (MiB), checked by the ledger.
RSS_BOUND_MB = 300


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("reliability"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def load(stack: Stack) -> AsyncIterator[Load]:
    load = Load(stack, LOAD_PRODUCTS)
    try:
        for product in [*LOAD_PRODUCTS, "rel-slow", "rel-crash-commit", "rel-crash-reserve"]:
            r = await load.rest(
                "POST",
                f"/v1/products?productId={product}",
                {
                    "sku": product.upper(),
                    "title": product,
                    "category": "reliability",
                    "price": {"currencyCode": "EUR", "units": "3"},
                    "stock": str(INITIAL_STOCK),
                },
            )
            assert r.status == 201, r.body
        yield load
    finally:
        await load.close()


def initial_stock(*products: str) -> dict[str, int]:
    return dict.fromkeys(products, INITIAL_STOCK)


async def finish(load: Load, drill: str, mark: tuple[int, int], **extra: Any) -> dict[str, Any]:
    """Settle, check the ledger of every write so far (since the stack started), report;
    the figures (requests and acknowledged writes of this drill, the ledger's of all)."""
    await settled(load.stack)
    ledger = await check_ledger(load.stack, load.writes, initial_stock(*LOAD_PRODUCTS))
    figures = {
        **summarise(load.since(mark)),
        "acknowledged_writes": sum(1 for w in load.writes_since(mark) if w.name),
        **ledger.figures(),
        "reconnects": load.reconnects,
        **extra,
    }
    report(drill, figures)
    assert not list(ledger.problems()), list(ledger.problems())
    return figures


# --- (1) memcached killed ---------------------------------------------------------------


async def test_memcached_killed_reads_from_postgres_then_cache_again(
    stack: Stack, load: Load
) -> None:
    mark = load.mark()
    async with load.running():
        await asyncio.sleep(2)
        stack.memcached.kill()
        down = load.mark()
        await asyncio.sleep(4)
        during = load.since(down)
        stack.memcached.start()  # the same port: the clients find it by themselves
        back = await memcached_stats(stack.memcached)
        await asyncio.sleep(4)
    stats = await memcached_stats(stack.memcached)
    hits = int(stats[b"get_hits"]) - int(back[b"get_hits"])
    items = int(stats[b"curr_items"])
    figures = await finish(
        load,
        "memcached-killed",
        mark,
        served_while_down=sum(o.ok for o in during),
        cache_hits_after_return=hits,
        cache_items_after_return=items,
    )
    assert figures["failed"] == 0, figures
    assert sum(o.ok and o.kind.endswith("read") for o in during) > 10
    assert hits > 0 and items > 0, "the cache was not used again after memcached returned"


# --- (2) PostgreSQL stopped -------------------------------------------------------------


async def test_postgres_stopped_fails_fast_then_recovers_without_losing_orders(
    stack: Stack, load: Load
) -> None:
    mark = load.mark()
    async with load.running():
        await asyncio.sleep(2)
        await asyncio.to_thread(stack.postgres.stop)
        stopped_at = time.monotonic()
        await asyncio.sleep(4)
        await asyncio.to_thread(stack.postgres.start)
        restarted_at = time.monotonic()
        await asyncio.sleep(5)
    outcomes = load.since(mark)
    failed = [o for o in outcomes if not o.ok]
    # Failures are fast and say the dependency is unavailable: never a hang or another code.
    assert {o.status for o in failed} <= {"503", "UNAVAILABLE"}, summarise(failed)
    assert all(o.latency < DEADLINE for o in failed), summarise(failed)
    assert failed, "no request failed while PostgreSQL was down: the drill tested nothing"
    # The pools reconnected by themselves: everything started 2 s after the restart succeeded.
    late = [o for o in outcomes if o.started > restarted_at + 2]
    assert late and all(o.ok for o in late), summarise(late)
    # The failed writes, sent again with their request ids, each place one order.
    retried = [w for w in load.writes if not w.name]
    for write in retried:
        write.name, status = await load.place(write)
        assert status == "OK", status
    await finish(
        load,
        "postgres-stopped",
        mark,
        down_seconds=round(restarted_at - stopped_at, 1),
        failed_writes_retried=len(retried),
        max_failure_ms=round(max(o.latency for o in failed) * 1000, 1),
    )


# --- (5) a slow backend -----------------------------------------------------------------

#: Statements of other sessions waiting for a lock (the catalog's, on the held row).
BLOCKED = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
)


async def test_slow_backend_gets_504_at_the_deadline_and_the_backend_cancels(
    stack: Stack, load: Load
) -> None:
    mark = load.mark()
    async with load.running(), database(stack) as db:
        # Hold the product's row: the catalog's UPDATE waits on it inside its transaction.
        tx = db.transaction()
        await tx.start()
        await db.execute("SELECT 1 FROM products WHERE id = 'rel-slow' FOR UPDATE")
        started = time.monotonic()
        patch = asyncio.ensure_future(
            load.rest(
                "PATCH",
                "/v1/products/rel-slow?updateMask=title",
                {"title": "changed while slow"},
                {"grpc-timeout": "1000m"},
            )
        )
        await asyncio.sleep(0.6)
        waiting_during = await db.fetchval(BLOCKED)
        r = await patch
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.5)
        # The catalog saw the cancellation: its statement left PostgreSQL's lock queue
        # while the row is still held.
        waiting_after = await db.fetchval(BLOCKED)
        await tx.rollback()
        await asyncio.sleep(1)
        title = await db.fetchval("SELECT title FROM products WHERE id = 'rel-slow'")
    figures = await finish(
        load,
        "slow-backend",
        mark,
        status=r.status,
        answered_after_ms=round(elapsed * 1000),
        blocked_statements_before_deadline=waiting_during,
        blocked_statements_after=waiting_after,
    )
    assert r.status == 504, r.body
    assert 0.9 <= elapsed < 2.0, elapsed
    assert waiting_during == 1, "the catalog's statement was not waiting on the row"
    assert waiting_after == 0, "the catalog's statement still waits after the deadline"
    assert title == "rel-slow", "the cancelled update was applied after all"
    assert figures["failed"] == 0, figures


# --- (6) a crash between reserving the stock and committing the order ---------------------

HOLD = """
CREATE OR REPLACE FUNCTION reliability_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM reservation_items
             WHERE reservation_id = NEW.id AND product_id = 'rel-crash-commit')
     AND NEW.state = 'COMMITTED' THEN
    PERFORM pg_advisory_xact_lock(4242);
  END IF;
  RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION reliability_hold_reserve() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.product_id = 'rel-crash-reserve' THEN
    PERFORM pg_advisory_xact_lock(4242);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER reliability_hold BEFORE UPDATE ON reservations
  FOR EACH ROW EXECUTE FUNCTION reliability_hold();
CREATE TRIGGER reliability_hold_reserve BEFORE INSERT ON reservation_items
  FOR EACH ROW EXECUTE FUNCTION reliability_hold_reserve();
"""
UNHOLD = """
DROP TRIGGER reliability_hold ON reservations;
DROP TRIGGER reliability_hold_reserve ON reservation_items;
"""


@pytest.mark.parametrize("step", ["COMMIT", "RESERVE"])
async def test_crash_mid_saga_leaves_no_half_order_and_no_held_stock(
    stack: Stack, load: Load, step: str
) -> None:
    """Orders-a is killed (SIGKILL) while its saga waits in the catalog: after the step
    that reserved the stock (COMMIT), or inside the reservation (RESERVE)."""
    product = f"rel-crash-{step.lower()}"
    orders_a = stack.procs["orders-a"]
    request_id = str(uuid.uuid4())
    mark = load.mark()
    async with load.running(), database(stack) as db:
        await db.execute(HOLD)
        await db.execute("SELECT pg_advisory_lock(4242)")
        try:
            async with grpc.aio.insecure_channel(f"{HOST}:{stack.ports['orders-a']}") as ch:
                stub: Any = orders_pb2_grpc.OrdersServiceStub(ch)
                item = orders_pb2.LineItem(product=f"products/{product}", quantity=3)
                call = asyncio.ensure_future(
                    stub.CreateOrder(
                        orders_pb2.CreateOrderRequest(
                            order=orders_pb2.Order(currency_code="EUR", line_items=[item]),
                            request_id=request_id,
                        ),
                        metadata=load.metadata,
                        timeout=30,
                    )
                )
                for _ in range(200):  # the saga is now waiting in the catalog
                    owed = await db.fetchval(
                        "SELECT step FROM orders WHERE request_id = $1", request_id
                    )
                    blocked = await db.fetchval(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                    if owed == step and blocked:
                        break
                    await asyncio.sleep(0.05)
                else:
                    pytest.fail(f"the saga never waited in step {step}: {owed}, {blocked}")
                held_at_crash = await db.fetchval(
                    "SELECT stock FROM products WHERE id = $1", product
                )
                orders_a.kill()
                with pytest.raises(grpc.aio.AioRpcError):
                    await call
        finally:
            await db.execute("SELECT pg_advisory_unlock(4242)")
            await db.execute(UNHOLD)
        await asyncio.to_thread(orders_a.start)
        await settled(stack)
        order = await db.fetchrow(
            "SELECT id, state, step FROM orders WHERE request_id = $1", request_id
        )
        reservation = await db.fetchval(
            "SELECT state FROM reservations WHERE id = $1", order["id"] if order else ""
        )
        stock = await db.fetchval("SELECT stock FROM products WHERE id = $1", product)
    figures = await finish(
        load,
        f"crash-mid-saga-{step.lower()}",
        mark,
        order_after_recovery=dict(order) if order else None,
        reservation_after_recovery=reservation,
        stock_at_crash=held_at_crash,
        stock_after_recovery=stock,
        orders_a_exit=orders_a.exits[-1],
    )
    if order is None:  # compensated: the stock is back
        assert stock == INITIAL_STOCK, figures
    else:  # finished: confirmed, the reservation a sale, the stock sold once
        assert (order["state"], order["step"], reservation) == ("CONFIRMED", None, "COMMITTED")
        assert stock == INITIAL_STOCK - 3, figures
    if step == "COMMIT":
        assert order is not None, "an order whose stock was reserved should be finished"
    await reset_product(stack, product)


async def reset_product(stack: Stack, product: str) -> None:
    async with database(stack) as db:
        await db.execute("UPDATE products SET stock = $2 WHERE id = $1", product, INITIAL_STOCK)


# --- (3) one catalog instance of two killed ----------------------------------------------


def served(stack: Stack, name: str) -> float:
    """Calls the instance ``name`` has served (its Prometheus counter, every method)."""
    url = f"http://{HOST}:{stack.admin[name]}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("colonnade_rpc_server_requests_total{") and "grpc.health" not in line
    )


async def test_one_catalog_killed_traffic_moves_to_the_other_and_back(
    stack: Stack, load: Load
) -> None:
    catalog_a = stack.procs["catalog-a"]
    mark = load.mark()
    async with load.running():
        await asyncio.sleep(2)
        catalog_a.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(4)
        await asyncio.to_thread(catalog_a.start)
        restarted_at = time.monotonic()
        before = await asyncio.to_thread(served, stack, "catalog-a")
        await asyncio.sleep(5)
        after = await asyncio.to_thread(served, stack, "catalog-a")
    outcomes = load.since(mark)
    failed = [o for o in outcomes if not o.ok]
    figures = await finish(
        load,
        "catalog-instance-killed",
        mark,
        failed_at_kill=[o.status for o in failed],
        failed_after_kill_s=[round(o.started - killed_at, 3) for o in failed],
        failed_latency_s=[round(o.latency, 3) for o in failed],
        calls_to_restarted_instance=after - before,
    )
    # Only calls in flight at the moment of the kill may fail (the instance took them down
    # with it); after a second, none.
    assert all(killed_at - DEADLINE <= o.started <= killed_at + 1 for o in failed), figures
    assert len(failed) <= 5, figures
    assert after - before > 10, "the restarted catalog instance gets no calls"
    assert all(o.ok for o in outcomes if o.started > restarted_at), figures


# --- (4) rolling restart ----------------------------------------------------------------


async def back_in_rotation(stack: Stack, name: str, calls: int = 5, within: float = 15) -> None:
    """Wait until the restarted instance serves calls again, then for every client to have
    it back (their reconnect back-off is capped at 2 s, the gateway checks health every
    0.5 s): a deployment's health-check grace before it stops the next task. Stopping the
    next one sooner leaves a client with no instance it can reach for a moment."""
    first = await asyncio.to_thread(served, stack, name)
    deadline = time.monotonic() + within
    while await asyncio.to_thread(served, stack, name) < first + calls:
        assert time.monotonic() < deadline, f"{name} gets no calls {within} s after its restart"
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.5)


async def test_rolling_restart_of_every_service_fails_no_request(stack: Stack, load: Load) -> None:
    mark = load.mark()
    exits: dict[str, int] = {}
    async with load.running():
        await asyncio.sleep(1)
        for name in ("catalog-a", "catalog-b", "orders-a", "orders-b"):
            proc = stack.procs[name]
            exits[name] = await asyncio.to_thread(proc.terminate)
            await asyncio.to_thread(proc.start)
            await back_in_rotation(stack, name)
        # The gateway: a new process binds the same port (SO_REUSEPORT), then the old drains.
        old = stack.procs["gateway"]
        new = stack.add("gateway", old.args, old.env, old.ready)
        await asyncio.to_thread(new.start, ready_line='"message":"gateway listening"')
        gateway_stopped_at = time.monotonic()
        exits["gateway"] = await asyncio.to_thread(old.terminate)
        await asyncio.sleep(2)
    figures = await finish(
        load,
        "rolling-restart",
        mark,
        exit_codes=exits,
        failed_after_gateway_stop_s=[
            round(o.started - gateway_stopped_at, 3) for o in load.since(mark) if not o.ok
        ],
    )
    assert set(exits.values()) == {0}, exits
    assert figures["failed"] == 0, figures


# --- the ledger run ---------------------------------------------------------------------

LEDGER_SECONDS = 30


async def test_ledger_run_loses_no_order_and_stays_within_memory(stack: Stack, load: Load) -> None:
    mark = load.mark()
    began = time.monotonic()
    rss_start = {name: proc.sample_rss() for name, proc in stack.procs.items()}
    async with load.running():
        while time.monotonic() - began < LEDGER_SECONDS:
            await asyncio.sleep(1)
            stack.sample_rss()
    elapsed = time.monotonic() - began
    peaks = {name: round(proc.rss_peak_kb / 1024, 1) for name, proc in stack.procs.items()}
    outcomes = load.since(mark)
    figures = await finish(
        load,
        "ledger",
        mark,
        seconds=round(elapsed, 1),
        throughput_rps=round(len(outcomes) / elapsed, 1),
        rss_start_mb={k: round(v / 1024, 1) for k, v in rss_start.items()},
        rss_peak_mb=peaks,
        rss_bound_mb=RSS_BOUND_MB,
    )
    assert figures["failed"] == 0, figures
    assert all(peak < RSS_BOUND_MB for peak in peaks.values()), peaks


def test_logs_show_no_crash(stack: Stack) -> None:
    """No process died of a signal it did not get from a drill (a faulthandler traceback
    would be in its log: PYTHONFAULTHANDLER is set)."""
    for proc in stack.procs.values():
        text = Path(proc.log).read_text(errors="replace")
        assert "Fatal Python error" not in text, f"{proc.name}: {proc.tail(60)}"
