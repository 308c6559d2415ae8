"""A steady REST and gRPC load, the ledger of what it was told, and the checker.

Open loop: each kind of request starts at its own rate whether or not the earlier ones have
answered (a stuck backend shows as failures, not as a slower generator). Writes are orders
with a request id (AIP-155), so the ledger knows what each acknowledged write must have left
in the database; the checker reads PostgreSQL directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.client import Channels, ClientConfig, MethodPolicy
from tests.gateway.httpclient import Connection, Response
from tests.reliability.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORTS = REPO_ROOT / "build" / "reliability"
#: Requests per second of each kind (24 in all, each order four catalog calls and a few
#: statements: light enough that a 2-core machine running other tests keeps up).
RATES = {"rest-read": 12.0, "grpc-read": 6.0, "rest-order": 4.0, "grpc-order": 2.0}
#: Every request's deadline (seconds): what "fail fast" is measured against.
DEADLINE = 5.0
CATALOG = ClientConfig(
    "colonnade.catalog.v1.CatalogService", {"GetProduct": MethodPolicy(DEADLINE, retryable=True)}
)
ORDERS = ClientConfig(
    "colonnade.orders.v1.OrdersService",
    # retried on UNAVAILABLE: the request id makes a second attempt return the first's order
    {"CreateOrder": MethodPolicy(DEADLINE, retryable=True)},
)


@dataclass(slots=True)
class Outcome:
    kind: str
    ok: bool
    status: str
    started: float
    latency: float
    detail: str = ""  # what a failed request answered


@dataclass(slots=True)
class Write:
    request_id: str
    product: str
    quantity: int
    via: str
    name: str = ""  # the order's name once acknowledged
    detail: str = ""  # the last failure's answer


@dataclass
class Load:
    """The generator: ``async with load.running():`` keeps it going."""

    stack: Stack
    products: list[str]
    rates: dict[str, float] = field(default_factory=lambda: dict(RATES))
    outcomes: list[Outcome] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    #: keep-alive connections that found the server gone and were retried on a new one
    reconnects: int = 0
    _idle: list[Connection] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _n: int = 0

    def __post_init__(self) -> None:
        self.channels = Channels()
        auth = ("authorization", f"Bearer {self.stack.token}")
        self.metadata = (auth,)
        self.catalog: Any = catalog_pb2_grpc.CatalogServiceStub(
            self.channels.get(self.stack.target("catalog"), CATALOG)
        )
        self.orders: Any = orders_pb2_grpc.OrdersServiceStub(
            self.channels.get(self.stack.target("orders"), ORDERS)
        )

    # --- one request of each kind -------------------------------------------------------

    async def rest(
        self, method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """One request over a kept-alive connection. A connection that ends before any
        answer (closed by a gateway while idle, or reset in the accept queue of a gateway's
        listener closing on SIGTERM: the kernel does not move those to the other listener
        of the port unless net.ipv4.tcp_migrate_req=1) is replaced and the request sent
        once more, as HTTP clients do for idempotent requests: every request here is (GETs,
        and orders carrying a request id). Counted in ``reconnects``."""
        hdrs = {"authorization": f"Bearer {self.stack.token}", **(headers or {})}
        for attempt in (0, 1):
            # the second attempt on a new connection: the other idle ones may be stale too
            reuse = self._idle and not attempt
            conn = self._idle.pop() if reuse else Connection(self.stack.gateway_port)
            try:
                response = await conn.request(method, target, headers=hdrs, json_body=body)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                await conn.close()
                if attempt:
                    raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
                self.reconnects += 1
                continue
            except BaseException:
                await conn.close()
                raise
            if response.headers.get("connection", "").lower() == "close":
                await conn.close()
            else:
                self._idle.append(conn)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _one(self, kind: str) -> None:
        self._n += 1
        product = self.products[self._n % len(self.products)]
        started = time.monotonic()
        status = "OK"
        detail = ""
        write: Write | None = None
        try:
            async with asyncio.timeout(DEADLINE + 1):
                if kind == "rest-read":
                    r = await self.rest("GET", f"/v1/products/{product}")
                    status = str(r.status) if r.status != 200 else "OK"
                    detail = r.body[:300].decode(errors="replace")
                elif kind == "grpc-read":
                    await self.catalog.GetProduct(
                        catalog_pb2.GetProductRequest(name=f"products/{product}"),
                        metadata=self.metadata,
                        timeout=DEADLINE,
                    )
                else:
                    write = Write(str(uuid.uuid4()), product, 1, kind)
                    self.writes.append(write)
                    write.name, status = await self.place(write)
                    detail = write.detail
        except grpc.aio.AioRpcError as exc:
            status = exc.code().name
            detail = exc.details() or ""
        except TimeoutError:
            status = "client-timeout"
        except (ConnectionError, OSError) as exc:
            status = f"connection: {exc}"
        self.outcomes.append(
            Outcome(
                kind,
                status == "OK",
                status,
                started,
                time.monotonic() - started,
                "" if status == "OK" else detail,
            )
        )

    async def place(self, write: Write) -> tuple[str, str]:
        """Place ``write``'s order (again, with the same request id, when retried):
        (the order's name, "OK") or ("", the status)."""
        if write.via == "rest-order":
            r = await self.rest(
                "POST",
                f"/v1/orders?requestId={write.request_id}",
                {
                    "currencyCode": "EUR",
                    "lineItems": [
                        {"product": f"products/{write.product}", "quantity": str(write.quantity)}
                    ],
                },
                {"grpc-timeout": f"{int(DEADLINE * 1000)}m"},
            )
            if r.status != 201:
                write.detail = r.body[:300].decode(errors="replace")
                return "", str(r.status)
            return str(r.json()["name"]), "OK"
        order = orders_pb2.Order(
            currency_code="EUR",
            line_items=[
                orders_pb2.LineItem(product=f"products/{write.product}", quantity=write.quantity)
            ],
        )
        reply = await self.orders.CreateOrder(
            orders_pb2.CreateOrderRequest(order=order, request_id=write.request_id),
            metadata=self.metadata,
            timeout=DEADLINE,
        )
        return str(reply.name), "OK"

    # --- running ------------------------------------------------------------------------

    async def _ticker(self, kind: str, rate: float) -> None:
        period = 1.0 / rate
        next_at = time.monotonic()
        while True:
            task = asyncio.ensure_future(self._one(kind))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_at += period
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """Generate load inside the block; at its end, wait for the answers still due."""
        tickers = [asyncio.ensure_future(self._ticker(k, r)) for k, r in self.rates.items()]
        try:
            yield self
        finally:
            for t in tickers:
                t.cancel()
            await asyncio.gather(*tickers, return_exceptions=True)
            if self._tasks:
                await asyncio.wait(set(self._tasks), timeout=DEADLINE + 5)

    async def close(self) -> None:
        for conn in self._idle:
            await conn.close()
        self._idle.clear()
        await self.channels.close()

    # --- figures --------------------------------------------------------------------------

    def mark(self) -> tuple[int, int]:
        """Where a drill begins: (outcomes, writes) so far."""
        return len(self.outcomes), len(self.writes)

    def since(self, mark: tuple[int, int]) -> list[Outcome]:
        return self.outcomes[mark[0] :]

    def writes_since(self, mark: tuple[int, int]) -> list[Write]:
        return self.writes[mark[1] :]

    def acknowledged(self) -> list[Write]:
        return [w for w in self.writes if w.name]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    """Requests sent and failed (by kind and by status), and latencies (ms)."""
    failed = [o for o in outcomes if not o.ok]
    statuses: dict[str, int] = {}
    details: dict[str, str] = {}
    for o in failed:
        statuses[o.status] = statuses.get(o.status, 0) + 1
        details.setdefault(o.status, o.detail)
    latencies = [o.latency for o in outcomes]
    return {
        "sent": len(outcomes),
        "failed": len(failed),
        "failed_by_status": statuses,
        "failure_examples": details,
        "sent_by_kind": {k: sum(o.kind == k for o in outcomes) for k in RATES},
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies, default=0) * 1000, 1),
    }


def summary_line(drill: str, figures: dict[str, Any]) -> str:
    """``[reliability] <drill>: sent=… failed=… acknowledged_writes=… lost=…``."""
    keys = ("sent", "failed", "acknowledged_writes", "lost", "duplicated", "reconnects")
    line = " ".join(f"{k}={figures[k]}" for k in keys if k in figures)
    return f"[reliability] {drill}: {line}"


def report(drill: str, figures: dict[str, Any]) -> None:
    """The drill's one-line summary on stdout and its figures in build/reliability/ (the
    session's end lists the summaries again: tests/conftest.py)."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{drill}.json").write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\n{summary_line(drill, figures)} | {json.dumps(figures, sort_keys=True)}")


# --- the checker ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(stack: Stack) -> Any:
    conn = await asyncpg.connect(stack.database_url)
    try:
        yield conn
    finally:
        await conn.close()


async def settled(stack: Stack, within: float = 20) -> None:
    """Wait until no order owes a saga step and no stock is held (the recovery pass has run)."""
    deadline = time.monotonic() + within
    async with database(stack) as db:
        while True:
            owing = await db.fetchval("SELECT count(*) FROM orders WHERE step IS NOT NULL")
            held = await db.fetchval("SELECT count(*) FROM reservations WHERE state = 'HELD'")
            if owing == 0 and held == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after {within} s, {owing} orders still owe a step, {held} holds remain"
                )
            await asyncio.sleep(0.25)


@dataclass
class Ledger:
    """What the checker found."""

    acknowledged: int
    lost: list[str]
    duplicated: list[str]
    stock: dict[str, tuple[int, int, int]]  # product → (initial, sold, now)

    def figures(self) -> dict[str, Any]:
        return {
            "ledger_acknowledged_total": self.acknowledged,
            "lost": len(self.lost),
            "duplicated": len(self.duplicated),
            "stock": {
                p: {"initial": i, "sold": s, "now": n} for p, (i, s, n) in self.stock.items()
            },
        }

    def problems(self) -> Iterator[str]:
        if self.lost:
            yield f"acknowledged orders lost: {self.lost[:5]}"
        if self.duplicated:
            yield f"request ids with more than one order: {self.duplicated[:5]}"
        for product, (initial, sold, now) in self.stock.items():
            if now != initial - sold:
                yield f"{product}: stock {now} != initial {initial} - sold {sold}"


async def check_ledger(stack: Stack, writes: list[Write], initial: dict[str, int]) -> Ledger:
    """Every acknowledged order exists exactly once, CONFIRMED, under its request id; every
    product's stock is its initial stock less what the confirmed orders bought."""
    async with database(stack) as db:
        rows = await db.fetch(
            "SELECT request_id, id, state FROM orders WHERE request_id = ANY($1::text[])",
            [w.request_id for w in writes],
        )
        by_request: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            by_request.setdefault(row["request_id"], []).append((row["id"], row["state"]))
        lost = [
            w.request_id
            for w in writes
            if w.name and by_request.get(w.request_id) != [(w.name.split("/")[1], "CONFIRMED")]
        ]
        duplicated = [r for r, found in by_request.items() if len(found) > 1]
        stock: dict[str, tuple[int, int, int]] = {}
        for product, start in initial.items():
            sold = await db.fetchval(
                "SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o "
                "ON o.id = i.order_id WHERE o.state = 'CONFIRMED' AND i.product = $1",
                f"products/{product}",
            )
            now = await db.fetchval("SELECT stock FROM products WHERE id = $1", product)
            stock[product] = (start, int(sold), int(now))
    return Ledger(sum(1 for w in writes if w.name), lost, duplicated, stock)
