"""Stock reservations over real gRPC and PostgreSQL: idempotent, atomic, never oversold."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.conftest import StartCatalog
from tests.integration.helpers import new_product, rich_status

pytestmark = pytest.mark.integration

Held = catalog_pb2.Reservation.State


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> catalog_pb2_grpc.CatalogServiceStub:
    return catalog_pb2_grpc.CatalogServiceStub(channel)


async def product(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str, stock: int
) -> catalog_pb2.Product:
    created: catalog_pb2.Product = await stub.CreateProduct(
        catalog_pb2.CreateProductRequest(product=new_product(unique, stock=stock))
    )
    return created


async def stock_of(stub: catalog_pb2_grpc.CatalogServiceStub, name: str) -> int:
    found: catalog_pb2.Product = await stub.GetProduct(catalog_pb2.GetProductRequest(name=name))
    return found.stock


def reserve_request(
    reservation_id: str, *items: tuple[str, int], ttl: float | None = None
) -> catalog_pb2.ReserveStockRequest:
    request = catalog_pb2.ReserveStockRequest(
        reservation_id=reservation_id,
        items=[catalog_pb2.ReservationItem(product=p, quantity=q) for p, q in items],
    )
    if ttl is not None:
        request.ttl.CopyFrom(duration_pb2.Duration(nanos=int(ttl * 1e9) % 10**9, seconds=int(ttl)))
    return request


async def test_reserve_commit_release_round_trip(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique + "a", 10)
    b = await product(stub, unique + "b", 3)
    held = await stub.ReserveStock(reserve_request(f"r-{unique}", (b.name, 2), (a.name, 4)))
    assert held.name == f"reservations/r-{unique}" and held.state == Held.HELD
    assert sorted((i.product, i.quantity) for i in held.items) == sorted([(a.name, 4), (b.name, 2)])
    assert held.expire_time.ToDatetime() > held.create_time.ToDatetime()
    assert (await stock_of(stub, a.name), await stock_of(stub, b.name)) == (6, 1)

    committed = await stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=held.name))
    assert committed.state == Held.COMMITTED
    again = await stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=held.name))
    assert again.state == Held.COMMITTED
    assert (await stock_of(stub, a.name), await stock_of(stub, b.name)) == (6, 1)

    # An order cancelled after it was confirmed: the sold stock comes back, once.
    for _ in range(2):
        released = await stub.ReleaseReservation(
            catalog_pb2.ReleaseReservationRequest(name=held.name)
        )
        assert released.state == Held.RELEASED
        assert (await stock_of(stub, a.name), await stock_of(stub, b.name)) == (10, 3)

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=held.name))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "RELEASED" in (err.value.details() or "")
    assert rich_status(err.value)[1].metadata["state"] == "RELEASED"


async def test_retry_is_idempotent_and_other_items_are_refused(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique, 10)
    first = await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 3)))
    retry = await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 3), ttl=60))
    assert retry == first
    assert await stock_of(stub, a.name) == 7
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 4)))
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert rich_status(err.value)[1].metadata["field"] == "reservation_id"
    assert await stock_of(stub, a.name) == 7


async def test_concurrent_retries_with_one_id_reserve_once(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique, 100)
    replies = await asyncio.gather(
        *(stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 5))) for _ in range(12))
    )
    assert len({r.SerializeToString() for r in replies}) == 1
    assert await stock_of(stub, a.name) == 95


async def test_not_enough_stock_changes_nothing(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique + "a", 10)
    b = await product(stub, unique + "b", 1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 2), (b.name, 2)))
    assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    _, info = rich_status(err.value)
    assert info.reason == "INSUFFICIENT_STOCK"
    assert info.metadata["resource_name"] == b.name and info.metadata["available"] == "1"
    assert (await stock_of(stub, a.name), await stock_of(stub, b.name)) == (10, 1)
    # Nothing was recorded under the id: the same id can reserve what there is.
    held = await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 2), (b.name, 1)))
    assert held.state == Held.HELD


async def test_missing_product_is_not_found(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique, 10)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReserveStock(
            reserve_request(f"r-{unique}", (a.name, 1), (f"products/zz-missing-{unique}", 1))
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    assert await stock_of(stub, a.name) == 10


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (reserve_request("", ("products/a", 1)), {"reservation_id"}),
        (reserve_request("Bad_Id", ("products/a", 1)), {"reservation_id"}),
        (reserve_request("r1"), {"items"}),
        (reserve_request("r1", ("products/a", 0)), {"items[0].quantity"}),
        (reserve_request("r1", ("items/a", 1)), {"items[0].product"}),
        (reserve_request("r1", ("products/a", 1), ("products/a", 2)), {"items[1].product"}),
        (reserve_request("r1", ("products/a", 1), ttl=7200), {"ttl"}),
        (reserve_request("r1", ("products/a", 1), ttl=0.5), {"ttl"}),
    ],
)
async def test_bad_reserve_requests_name_the_field(
    stub: catalog_pb2_grpc.CatalogServiceStub,
    request_: catalog_pb2.ReserveStockRequest,
    fields: set[str],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ReserveStock(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert set(rich_status(err.value)[0]) == fields


async def test_bad_names_and_unknown_reservations(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    for call in (stub.CommitReservation, stub.ReleaseReservation):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(catalog_pb2.CommitReservationRequest(name="products/x"))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "name" in rich_status(err.value)[0]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CommitReservation(
            catalog_pb2.CommitReservationRequest(name=f"reservations/none-{unique}")
        )
    assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_release_before_reserve_leaves_a_late_reserve_holding_nothing(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    a = await product(stub, unique, 4)
    released = await stub.ReleaseReservation(
        catalog_pb2.ReleaseReservationRequest(name=f"reservations/late-{unique}")
    )
    assert released.state == Held.RELEASED and not released.items
    late = await stub.ReserveStock(reserve_request(f"late-{unique}", (a.name, 2)))
    assert late.state == Held.RELEASED
    assert await stock_of(stub, a.name) == 4


async def test_expired_holds_return_their_stock(start_catalog: StartCatalog, unique: str) -> None:
    _, target = await start_catalog(sweep_interval=0.2)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        a = await product(stub, unique, 5)
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=a.name))  # cached at 5
        held = await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 5), ttl=1))
        assert await stock_of(stub, a.name) == 0  # the cache was invalidated
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await stock_of(stub, a.name) == 5:
                break
        assert await stock_of(stub, a.name) == 5
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=held.name))
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert rich_status(err.value)[1].metadata["state"] == "EXPIRED"


async def test_commit_after_expiry_fails_even_before_the_sweep(
    start_catalog: StartCatalog, unique: str
) -> None:
    _, target = await start_catalog(sweep_interval=3600)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        a = await product(stub, unique, 5)
        held = await stub.ReserveStock(reserve_request(f"r-{unique}", (a.name, 2), ttl=1))
        await asyncio.sleep(1.2)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=held.name))
        assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "EXPIRED" in (err.value.details() or "")
        assert await stock_of(stub, a.name) == 5


async def test_racing_clients_on_two_replicas_sell_exactly_the_stock(
    start_catalog: StartCatalog, unique: str
) -> None:
    targets = [(await start_catalog())[1] for _ in range(2)]
    channels = [grpc.aio.insecure_channel(t) for t in targets]
    try:
        stubs = [catalog_pb2_grpc.CatalogServiceStub(c) for c in channels]
        last = 7
        hot = await product(stubs[0], unique, last)

        async def buy(i: int) -> grpc.StatusCode:
            try:
                await stubs[i % 2].ReserveStock(
                    reserve_request(f"race-{unique}-{i}", (hot.name, 1))
                )
            except grpc.aio.AioRpcError as err:
                return err.code()
            return grpc.StatusCode.OK

        codes = await asyncio.gather(*(buy(i) for i in range(60)))
        assert codes.count(grpc.StatusCode.OK) == last
        assert codes.count(grpc.StatusCode.FAILED_PRECONDITION) == 60 - last
        assert await stock_of(stubs[1], hot.name) == 0
    finally:
        for channel in channels:
            await channel.close()
