#!/usr/bin/env python3
"""`make bench`, orders: orders placed per second through the gateway vs the asyncpg floor.

Starts PostgreSQL and memcached (devstack helpers) on free ports, then catalog, orders and the
REST gateway as processes, seeds one hot product and 16 cold ones (stock enough for the run),
and measures, for ``--duration`` seconds each:

* **through the gateway**: ``--clients`` concurrent HTTP/1.1 keep-alive clients, each placing
  one-item orders (``POST /v1/orders``) back to back, half of them on the hot product;
* **the floor**: the same database transactions the saga runs (write the order, reserve the
  stock, commit the reservation, confirm the order), issued directly by the same number of
  concurrent asyncpg clients through the services' own repositories: no gRPC, no gateway, no
  service hop, the same rows and locks.

Reports orders/s, p50 and p99 latency of each and the ratio gateway/floor (the issue's aim:
at least 0.5), in build/bench/orders.json and build/bench/orders.md. Not a test: numbers on a
shared machine vary; it never fails on them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"
COLD = 16


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
) -> int:
    """One keep-alive POST; the response's status."""
    writer.write(
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return status


def _pick(i: int, products: list[str]) -> str:
    """Client ``i``'s next product: the hot one for even clients, a random cold one else."""
    return products[0] if i % 2 == 0 else random.choice(products[1:])


async def _measure(
    clients: int, duration: float, one: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    """Run ``one(client)`` back to back in ``clients`` tasks for ``duration`` seconds."""
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def client(i: int) -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "orders": len(latencies),
        "orders_per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
    }


async def through_gateway(port: int, products: list[str], clients: int, duration: float) -> Any:
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]

    async def one(i: int) -> None:
        order = {
            "currencyCode": "EUR",
            "lineItems": [{"product": _pick(i, products), "quantity": "1"}],
        }
        reader, writer = connections[i]
        status = await _post(reader, writer, "/v1/orders", json.dumps(order).encode())
        if status != 201:
            raise SystemExit(f"POST /v1/orders answered {status}")

    try:
        return await _measure(clients, duration, one)
    finally:
        for _, writer in connections:
            writer.close()


async def floor(database_url: str, products: list[str], clients: int, duration: float) -> Any:
    import asyncpg

    from colonnade.catalog.reservation_storage import PostgresReservationRepository
    from colonnade.catalog.reservations import build_reservation_request
    from colonnade.orders.model import LineItem, OrderState, Step, build_draft
    from colonnade.orders.storage import PostgresOrderRepository
    from colonnade.runtime.money import Money

    pool = await asyncpg.create_pool(database_url, min_size=clients, max_size=clients)
    orders, stock = PostgresOrderRepository(pool), PostgresReservationRepository(pool)
    price = Money("EUR", 10)

    async def one(i: int) -> None:
        product = _pick(i, products)
        order_id = str(uuid.uuid4())
        draft = build_draft("", "EUR", [(product, 1)])
        await orders.insert(order_id, draft, [LineItem(product, 1, price)])
        await stock.reserve(build_reservation_request(order_id, [(product, 1)], None))
        await orders.advance(
            order_id, (OrderState.PENDING, Step.RESERVE), (OrderState.PENDING, Step.COMMIT)
        )
        await stock.commit(order_id)
        await orders.advance(
            order_id, (OrderState.PENDING, Step.COMMIT), (OrderState.CONFIRMED, None)
        )

    try:
        return await _measure(clients, duration, one)
    finally:
        await pool.close()


async def seed(target: str) -> list[str]:
    import grpc

    from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    names = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for n in range(COLD + 1):
            product = catalog_pb2.Product(sku=f"BENCH-{n}", title=f"Bench {n}", stock=10**9)
            product.price.currency_code, product.price.units = "EUR", 10
            created = await stub.CreateProduct(
                catalog_pb2.CreateProductRequest(product=product, product_id=f"bench-{n}")
            )
            names.append(created.name)
    return names


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--clients", type=int, default=32)
    args = ap.parse_args()

    from bench import data_stores, start_data_stores  # scripts/ is this script's sys.path[0]

    from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
    from colonnade_tools.devstack.ports import free_port

    tmp, pg, mc = data_stores("colonnade-bench-orders-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = start_data_stores(pg, mc, ("catalog", "orders"))
        env["DB_POOL_MAX"] = str(args.clients)
        cport, oport, gport = free_port(), free_port(), free_port()
        catalog, orders = f"127.0.0.1:{cport}", f"127.0.0.1:{oport}"
        for name, port, extra in (
            ("catalog", cport, {}),
            ("orders", oport, {"CATALOG_TARGET": catalog, "CACHE_URL": "none"}),
        ):
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"colonnade.{name}"],
                    env={**env, "SERVICE_NAME": name, "GRPC_PORT": str(port), **extra},
                )
            )
            wait_healthy(functools.partial(check_grpc, f"127.0.0.1:{port}", timeout=1), 60)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "colonnade.gateway",
                    "--backend",
                    f"colonnade.catalog.v1.CatalogService={catalog}",
                    "--backend",
                    f"colonnade.catalog.v2.CatalogService={catalog}",
                    "--backend",
                    f"colonnade.orders.v1.OrdersService={orders}",
                    "--port",
                    str(gport),
                    "--log-level",
                    "WARNING",
                    # orders placed per second against the asyncpg floor: the saga's cost,
                    # not the edge policies' (bench_policies.py measures those)
                    "--no-policies",
                ],
                env=env,
            )
        )
        wait_healthy(lambda: check_http(f"http://127.0.0.1:{gport}/readyz", timeout=1), 60)
        products = asyncio.run(seed(catalog))
        asyncio.run(through_gateway(gport, products, args.clients, 2))  # warm-up
        gateway = asyncio.run(through_gateway(gport, products, args.clients, args.duration))
        direct = asyncio.run(floor(pg.url("bench"), products, args.clients, args.duration))
    finally:
        for process in reversed(procs):
            process.terminate()
        for process in procs:
            process.wait(20)
        mc.stop()
        pg.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = gateway["orders_per_second"] / direct["orders_per_second"]
    result = {
        "clients": args.clients,
        "duration_s": args.duration,
        "hot_share": 0.5,
        "gateway": gateway,
        "asyncpg_floor": direct,
        "ratio": ratio,
        "cpus": os.cpu_count(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "orders.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        "| path | orders/s | p50 ms | p99 ms |",
        "| --- | --- | --- | --- |",
        *(
            f"| {label} | {r['orders_per_second']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
            for label, r in (
                ("REST → gateway → orders → catalog", gateway),
                ("asyncpg floor", direct),
            )
        ),
        "",
        f"ratio gateway/floor: **{ratio:.2f}** (aim: at least 0.5); {args.clients} clients, "
        f"half on one hot product, {args.duration:g} s each, {os.cpu_count()} CPUs shared "
        "with the load.",
    ]
    (OUT / "orders.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
