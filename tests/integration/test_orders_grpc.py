"""The orders service over real gRPC, with a real catalog, PostgreSQL and memcached."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import grpc
import pytest

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.model import LineItem, OrderDraft, OrderState, Step
from colonnade.orders.saga import Timings
from colonnade.orders.storage import PostgresOrderRepository
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.money import Money
from colonnade_tools.devstack.ports import free_port
from tests.conftest import StartOrders
from tests.integration.helpers import new_product, rich_status

pytestmark = pytest.mark.integration

State = orders_pb2.Order.State


@pytest.fixture
async def orders(start_orders: StartOrders) -> AsyncIterator[orders_pb2_grpc.OrdersServiceStub]:
    async with grpc.aio.insecure_channel(await start_orders()) as channel:
        yield orders_pb2_grpc.OrdersServiceStub(channel)


@pytest.fixture
def catalog(channel: grpc.aio.Channel) -> catalog_pb2_grpc.CatalogServiceStub:
    return catalog_pb2_grpc.CatalogServiceStub(channel)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as p:
        yield p


async def product(
    catalog: catalog_pb2_grpc.CatalogServiceStub, unique: str, stock: int, units: int = 10
) -> str:
    message = new_product(unique, stock=stock)
    message.price.units, message.price.nanos = units, 250_000_000
    created = await catalog.CreateProduct(catalog_pb2.CreateProductRequest(product=message))
    return str(created.name)


async def stock_of(catalog: catalog_pb2_grpc.CatalogServiceStub, name: str) -> int:
    return int((await catalog.GetProduct(catalog_pb2.GetProductRequest(name=name))).stock)


def order_request(*items: tuple[str, int], currency: str = "EUR", request_id: str = "") -> Any:
    return orders_pb2.CreateOrderRequest(
        order=orders_pb2.Order(
            currency_code=currency,
            line_items=[orders_pb2.LineItem(product=p, quantity=q) for p, q in items],
        ),
        request_id=request_id,
    )


async def orders_with(pool: asyncpg.Pool, product_name: str) -> int:
    """How many orders (of any state) have a line item of ``product_name``."""
    return int(
        await pool.fetchval(
            "SELECT count(DISTINCT order_id) FROM order_items WHERE product = $1", product_name
        )
    )


async def test_create_get_prices_and_takes_stock(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique + "a", 10, units=3)
    b = await product(catalog, unique + "b", 5, units=7)
    order = await orders.CreateOrder(order_request((a, 2), (b, 1)))
    assert order.state == State.CONFIRMED and order.name.startswith("orders/")
    assert [(i.product, i.quantity, i.unit_price.units) for i in order.line_items] == [
        (a, 2, 3),
        (b, 1, 7),
    ]
    # 2 * 3.25 + 1 * 7.25 = 13.75
    assert (order.total.currency_code, order.total.units, order.total.nanos) == (
        "EUR",
        13,
        750_000_000,
    )
    assert (await stock_of(catalog, a), await stock_of(catalog, b)) == (8, 4)
    assert await orders.GetOrder(orders_pb2.GetOrderRequest(name=order.name)) == order


async def test_cancel_returns_the_stock_and_transitions_name_the_state(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique, 10)
    order = await orders.CreateOrder(order_request((a, 4)))
    assert await stock_of(catalog, a) == 6
    cancelled = await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=order.name))
    assert cancelled.state == State.CANCELLED
    assert await stock_of(catalog, a) == 10
    for call in (orders.CancelOrder, orders.ShipOrder):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(orders_pb2.CancelOrderRequest(name=order.name))
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "is CANCELLED" in (err.value.details() or "")
        assert rich_status(err.value)[1].metadata["state"] == "CANCELLED"
    assert await stock_of(catalog, a) == 10  # returned once

    shipped = await orders.CreateOrder(order_request((a, 1)))
    assert (
        await orders.ShipOrder(orders_pb2.ShipOrderRequest(name=shipped.name))
    ).state == State.SHIPPED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=shipped.name))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "is SHIPPED" in (err.value.details() or "")
    assert await stock_of(catalog, a) == 9


async def test_concurrent_cancels_return_the_stock_once(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique, 10)
    order = await orders.CreateOrder(order_request((a, 3)))

    async def cancel() -> grpc.StatusCode:
        try:
            await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=order.name))
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(cancel() for _ in range(8)))
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 7
    assert await stock_of(catalog, a) == 10


async def test_retried_create_with_a_request_id_places_one_order(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    a = await product(catalog, unique, 50)
    request_id = str(uuid.uuid4())
    first = await orders.CreateOrder(order_request((a, 2), request_id=request_id))
    again = await orders.CreateOrder(order_request((a, 2), request_id=request_id))
    assert again == first

    racing_id = str(uuid.uuid4())
    racing = await asyncio.gather(
        *(orders.CreateOrder(order_request((a, 3), request_id=racing_id)) for _ in range(10))
    )
    assert len({o.name for o in racing}) == 1 and racing[0].state == State.CONFIRMED
    assert await stock_of(catalog, a) == 50 - 2 - 3
    assert await orders_with(pool, a) == 2

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CreateOrder(order_request((a, 5), request_id=request_id))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in (err.value.details() or "")
    assert rich_status(err.value)[1].metadata["field"] == "request_id"
    assert await stock_of(catalog, a) == 45


async def test_not_enough_stock_leaves_no_order_and_no_hold(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    a = await product(catalog, unique + "a", 10)
    b = await product(catalog, unique + "b", 1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CreateOrder(order_request((a, 2), (b, 2)))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    _, info = rich_status(err.value)
    assert info.reason == "INSUFFICIENT_STOCK" and info.metadata["resource_name"] == b
    assert (await stock_of(catalog, a), await stock_of(catalog, b)) == (10, 1)
    assert await orders_with(pool, a) == 0


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (order_request(), {"order.line_items"}),
        (order_request(("products/a", 0)), {"order.line_items[0].quantity"}),
        (order_request(("shelves/a", 1)), {"order.line_items[0].product"}),
        (order_request(("products/a", 1), ("products/a", 1)), {"order.line_items[1].product"}),
        (order_request(("products/a", 1), currency="euro"), {"order.currency_code"}),
        (order_request(("products/a", 1), request_id="not-a-uuid"), {"request_id"}),
    ],
)
async def test_bad_create_requests_name_the_field(
    orders: orders_pb2_grpc.OrdersServiceStub, request_: Any, fields: set[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CreateOrder(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_status(err.value)[0]) == fields


async def test_unknown_products_and_other_currencies_name_the_line_item(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique, 10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CreateOrder(order_request((a, 1), (f"products/none-{unique}", 1)))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_status(err.value)[0]) == {"order.line_items[1].product"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CreateOrder(order_request((a, 1), currency="USD"))
    assert "priced in EUR" in rich_status(err.value)[0]["order.line_items[0].product"]
    assert await stock_of(catalog, a) == 10


async def test_malformed_and_unknown_order_names(
    orders: orders_pb2_grpc.OrdersServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.GetOrder(orders_pb2.GetOrderRequest(name="orders/7"))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in rich_status(err.value)[0]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=f"orders/{uuid.uuid4()}"))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_list_filters_and_pages(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique, 100)
    since = datetime.now(UTC) - timedelta(seconds=1)
    placed = [await orders.CreateOrder(order_request((a, 1))) for _ in range(5)]
    await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=placed[1].name))
    stamp = since.isoformat().replace("+00:00", "Z")
    mine = {o.name for o in placed}

    seen: list[str] = []
    request = orders_pb2.ListOrdersRequest(page_size=2, filter=f'create_time >= "{stamp}"')
    while True:
        reply = await orders.ListOrders(request)
        seen.extend(o.name for o in reply.orders)
        if not reply.next_page_token:
            break
        assert len(reply.orders) == 2
        request.page_token = reply.next_page_token
    assert mine <= set(seen) and len(seen) == len(set(seen))
    assert [n for n in seen if n in mine] == [o.name for o in reversed(placed)]  # newest first

    cancelled = await orders.ListOrders(
        orders_pb2.ListOrdersRequest(filter=f'state = CANCELLED AND create_time >= "{stamp}"')
    )
    assert placed[1].name in {o.name for o in cancelled.orders}
    assert all(o.state == State.CANCELLED for o in cancelled.orders)
    confirmed = await orders.ListOrders(
        orders_pb2.ListOrdersRequest(filter=f'state != CANCELLED AND create_time >= "{stamp}"')
    )
    assert mine - {placed[1].name} <= {o.name for o in confirmed.orders}

    first = await orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.ListOrders(
            orders_pb2.ListOrdersRequest(
                page_size=1, page_token=first.next_page_token, filter="state = SHIPPED"
            )
        )
    assert "another filter" in rich_status(err.value)[0]["page_token"]


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (orders_pb2.ListOrdersRequest(page_size=1001), "page_size"),
        (orders_pb2.ListOrdersRequest(page_token="nope"), "page_token"),
        (orders_pb2.ListOrdersRequest(filter="state = LOST"), "filter"),
        (orders_pb2.ListOrdersRequest(filter='create_time > "yesterday"'), "filter"),
        (orders_pb2.ListOrdersRequest(filter='create_time > "2026-01-01T00:00:00"'), "filter"),
        (orders_pb2.ListOrdersRequest(filter="total > 3"), "filter"),
        (orders_pb2.ListOrdersRequest(filter='state = "CONFIRMED"'), "filter"),
    ],
)
async def test_list_bad_arguments(
    orders: orders_pb2_grpc.OrdersServiceStub, request_: Any, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await orders.ListOrders(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert list(rich_status(err.value)[0]) == [field]


async def test_watch_streams_each_state_until_final(
    orders: orders_pb2_grpc.OrdersServiceStub,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    a = await product(catalog, unique, 5)
    order = await orders.CreateOrder(order_request((a, 1)))
    stream = orders.WatchOrder(orders_pb2.WatchOrderRequest(name=order.name), timeout=10)
    first = await stream.read()
    assert first.order.state == State.CONFIRMED

    async def cancel_soon() -> None:
        await asyncio.sleep(0.2)
        await orders.CancelOrder(orders_pb2.CancelOrderRequest(name=order.name))

    canceller = asyncio.create_task(cancel_soon())
    rest = []
    while (message := await stream.read()) is not grpc.aio.EOF:
        rest.append(message.order.state)
    await canceller
    assert rest == [State.CANCELLED]  # and the stream ended by itself


async def test_racing_clients_on_two_orders_replicas_sell_exactly_the_stock(
    start_orders: StartOrders,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
) -> None:
    targets = [await start_orders(), await start_orders()]
    channels = [grpc.aio.insecure_channel(t) for t in targets]
    try:
        stubs = [orders_pb2_grpc.OrdersServiceStub(c) for c in channels]
        last = 6
        hot = await product(catalog, unique, last)

        async def buy(i: int) -> grpc.StatusCode:
            try:
                await stubs[i % 2].CreateOrder(order_request((hot, 1)))
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        codes = await asyncio.gather(*(buy(i) for i in range(40)))
        assert codes.count(grpc.StatusCode.OK) == last
        assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 40 - last
        assert await stock_of(catalog, hot) == 0
    finally:
        for channel in channels:
            await channel.close()


async def test_catalog_unreachable_is_unavailable_and_writes_nothing(
    start_orders: StartOrders, pool: asyncpg.Pool, unique: str
) -> None:
    target = await start_orders(catalog=f"127.0.0.1:{free_port()}")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        name = f"products/gone-{unique}"
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateOrder(order_request((name, 1)), timeout=10)
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "catalog" in (err.value.details() or "")
        assert await orders_with(pool, name) == 0


class SlowCatalog:
    """A catalog whose GetProduct never answers in time; it records cancellations."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def get_product(self, request: bytes, context: Any) -> bytes:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return b""


async def test_slow_catalog_is_deadline_exceeded_within_the_callers_deadline(
    start_orders: StartOrders, unique: str
) -> None:
    slow = SlowCatalog()
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "colonnade.catalog.v1.CatalogService",
        {"GetProduct": grpc.unary_unary_rpc_method_handler(slow.get_product)},
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        target = await start_orders(catalog=f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(target) as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            started = time.monotonic()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.CreateOrder(order_request((f"products/p-{unique}", 1)), timeout=0.7)
            assert err.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 1.5
            await asyncio.wait_for(slow.cancelled.wait(), 2)
    finally:
        await server.stop(0)


async def crashed_order(pool: asyncpg.Pool, product_name: str, price: Money, step: Step) -> str:
    """An order as a crash leaves it: written and owing ``step``."""
    repository = PostgresOrderRepository(pool)
    draft = OrderDraft(None, "EUR", ((product_name, 2),))
    order = await repository.insert(str(uuid.uuid4()), draft, [LineItem(product_name, 2, price)])
    if step is not Step.RESERVE:
        moved = await repository.advance(
            order.id, (OrderState.PENDING, Step.RESERVE), (OrderState.PENDING, step)
        )
        assert moved is not None
    return order.id


async def test_recovery_finishes_or_compensates_orders_a_crash_left(
    start_orders: StartOrders,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    a = await product(catalog, unique, 10)
    price = Money("EUR", 10, 250_000_000)
    # Crashed after reserving, before committing: recovery commits it.
    reserved = await crashed_order(pool, a, price, Step.COMMIT)
    await catalog.ReserveStock(
        catalog_pb2.ReserveStockRequest(
            reservation_id=reserved, items=[catalog_pb2.ReservationItem(product=a, quantity=2)]
        )
    )
    # Crashed after reserving with a hold that has expired since: recovery compensates it.
    expired = await crashed_order(pool, a, price, Step.COMMIT)
    request = catalog_pb2.ReserveStockRequest(
        reservation_id=expired, items=[catalog_pb2.ReservationItem(product=a, quantity=2)]
    )
    request.ttl.seconds = 1
    await catalog.ReserveStock(request)
    # Crashed after writing, before (or while) reserving: recovery compensates it.
    unreserved = await crashed_order(pool, a, price, Step.RESERVE)
    assert await stock_of(catalog, a) == 6
    await asyncio.sleep(1.2)

    target = await start_orders(timings=Timings(recovery_grace=timedelta(0)))
    async with grpc.aio.insecure_channel(target) as channel:
        stub = orders_pb2_grpc.OrdersServiceStub(channel)
        for _ in range(50):  # the start-up pass runs in the background
            remaining = await pool.fetchval(
                "SELECT count(*) FROM orders WHERE step IS NOT NULL AND id = ANY($1::text[])",
                [reserved, expired, unreserved],
            )
            if remaining == 0:
                break
            await asyncio.sleep(0.1)
        done = await stub.GetOrder(orders_pb2.GetOrderRequest(name=f"orders/{reserved}"))
        assert done.state == State.CONFIRMED
        for gone in (expired, unreserved):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetOrder(orders_pb2.GetOrderRequest(name=f"orders/{gone}"))
            assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert await stock_of(catalog, a) == 8  # only the confirmed order's 2 are sold
    # The compensated ids are tombstoned: a reserve arriving late holds nothing.
    late = await catalog.ReserveStock(
        catalog_pb2.ReserveStockRequest(
            reservation_id=unreserved, items=[catalog_pb2.ReservationItem(product=a, quantity=2)]
        )
    )
    assert late.state == catalog_pb2.Reservation.State.RELEASED
    assert await stock_of(catalog, a) == 8


async def test_an_orders_process_killed_mid_saga_leaves_no_half_made_order(
    start_orders: StartOrders,
    catalog_target: str,
    catalog: catalog_pb2_grpc.CatalogServiceStub,
    database_url: str,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    """SIGKILL an orders process while orders are being placed, then let a new one recover:
    every order is CONFIRMED with its reservation committed, or gone with its stock back."""
    import os
    import signal
    import sys

    from colonnade.runtime.healthcheck import check_grpc, wait_healthy
    from colonnade_tools.devstack.ports import free_port

    initial = 1000
    a = await product(catalog, unique, initial)
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "colonnade.orders",
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "CACHE_URL": "none",
            "CATALOG_TARGET": catalog_target,
            "GRPC_HOST": "127.0.0.1",
            "GRPC_PORT": str(port),
            "LOG_LEVEL": "WARNING",
            "LOG_ACCESS": "false",
        },
    )
    try:
        await asyncio.to_thread(
            wait_healthy, lambda: check_grpc(f"127.0.0.1:{port}", timeout=1), 60
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)
            calls = [
                asyncio.ensure_future(stub.CreateOrder(order_request((a, 1 + i % 3)), timeout=30))
                for i in range(40)
            ]
            done: set[asyncio.Future[Any]] = set()
            while len(done) < 5:
                finished, _ = await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
                done |= finished
                calls = [c for c in calls if c not in finished] or calls
            process.send_signal(signal.SIGKILL)
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    assert any(isinstance(o, grpc.aio.AioRpcError) for o in outcomes), "the kill came too late"

    await start_orders(timings=Timings(recovery_grace=timedelta(0)))
    for _ in range(100):  # the start-up recovery pass runs in the background
        owing = await pool.fetchval(
            "SELECT count(*) FROM orders o JOIN order_items i ON i.order_id = o.id "
            "WHERE i.product = $1 AND o.step IS NOT NULL",
            a,
        )
        if owing == 0:
            break
        await asyncio.sleep(0.1)
    rows = await pool.fetch(
        "SELECT o.id, o.state, i.quantity, r.state AS held FROM orders o "
        "JOIN order_items i ON i.order_id = o.id LEFT JOIN reservations r ON r.id = o.id "
        "WHERE i.product = $1",
        a,
    )
    assert rows and all((r["state"], r["held"]) == ("CONFIRMED", "COMMITTED") for r in rows), rows
    sold = sum(r["quantity"] for r in rows)
    assert await stock_of(catalog, a) == initial - sold  # every other unit came back
