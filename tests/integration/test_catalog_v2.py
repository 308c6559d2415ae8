"""Catalog v1 and v2 side by side: one process, one table, one cache, two vocabularies.

Real gRPC channels to the catalog on real PostgreSQL and memcached, and REST through the
real gateway in front of it: what one version writes, the other reads, consistently.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from colonnade.catalog.v1 import catalog_pb2 as v1
from colonnade.catalog.v1 import catalog_pb2_grpc as v1_grpc
from colonnade.catalog.v2 import catalog_pb2 as v2
from colonnade.catalog.v2 import catalog_pb2_grpc as v2_grpc
from tests.conftest import running_gateway
from tests.gateway.httpclient import request
from tests.integration.helpers import new_product, rich_status

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

V1_SERVICE = "colonnade.catalog.v1.CatalogService"
V2_SERVICE = "colonnade.catalog.v2.CatalogService"


@pytest.fixture
def stub1(channel: grpc.aio.Channel) -> v1_grpc.CatalogServiceStub:
    return v1_grpc.CatalogServiceStub(channel)


@pytest.fixture
def stub2(channel: grpc.aio.Channel) -> v2_grpc.CatalogServiceStub:
    return v2_grpc.CatalogServiceStub(channel)


@pytest.fixture
async def rest(catalog_target: str) -> AsyncIterator[int]:
    """The gateway's port, in front of the catalog serving v1 and v2."""
    async with running_gateway(catalog_target) as port:
        yield port


def v2_product(unique: str, amount: str = "9.90", **fields: object) -> v2.Product:
    values: dict[str, object] = {
        "sku": f"SKU-{unique}",
        "display_name": f"Mug {unique}",
        "category": f"cat-{unique}",
        "stock": 4,
        "price": v2.Price(amount=amount, currency_code="EUR"),
    }
    values.update(fields)
    return v2.Product(**values)  # type: ignore[arg-type]


def assert_same_product(one: v1.Product, two: v2.Product) -> None:
    """The v1 and the v2 view of one stored product agree field by field."""
    assert two.name == one.name and two.sku == one.sku and two.etag == one.etag
    assert two.display_name == one.title
    assert (two.description, two.category, two.stock) == (one.description, one.category, one.stock)
    assert two.price.currency_code == one.price.currency_code
    units, _, fraction = two.price.amount.partition(".")
    assert int(units) == one.price.units
    assert int(fraction.ljust(9, "0")) == one.price.nanos
    assert (two.create_time, two.update_time) == (one.create_time, one.update_time)


# --- gRPC ----------------------------------------------------------------------------------------


async def test_created_through_v1_read_through_v2(
    stub1: v1_grpc.CatalogServiceStub, stub2: v2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await stub1.CreateProduct(
        v1.CreateProductRequest(product=new_product(unique), product_id=f"v1-{unique}")
    )
    read = await stub2.GetProduct(v2.GetProductRequest(name=created.name))
    assert_same_product(created, read)
    assert read.price == v2.Price(amount="12.50", currency_code="EUR")
    assert read.display_name == f"Product {unique}"


async def test_created_through_v2_read_through_v1(
    stub1: v1_grpc.CatalogServiceStub, stub2: v2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await stub2.CreateProduct(
        v2.CreateProductRequest(product=v2_product(unique, "12.345"), product_id=f"v2-{unique}")
    )
    assert created.price.amount == "12.345" and created.display_name == f"Mug {unique}"
    read = await stub1.GetProduct(v1.GetProductRequest(name=created.name))
    assert (read.price.units, read.price.nanos, read.price.currency_code) == (
        12,
        345_000_000,
        "EUR",
    )
    assert_same_product(read, created)
    assert read == await stub1.GetProduct(v1.GetProductRequest(name=created.name))  # cached


async def test_update_through_v2_with_a_mask_read_through_v1(
    stub1: v1_grpc.CatalogServiceStub, stub2: v2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await stub1.CreateProduct(v1.CreateProductRequest(product=new_product(unique)))
    before = await stub1.GetProduct(v1.GetProductRequest(name=created.name))  # now cached
    changes = v2.Product(
        name=created.name,
        display_name="Renamed in v2",
        description="not in the mask: ignored",
        price=v2.Price(amount="8.05"),
        etag=before.etag,  # v1's etag guards a v2 write: they are the same etag
    )
    updated = await stub2.UpdateProduct(
        v2.UpdateProductRequest(
            product=changes,
            update_mask=field_mask_pb2.FieldMask(paths=["display_name", "price.amount"]),
        )
    )
    assert updated.display_name == "Renamed in v2"
    assert updated.price == v2.Price(amount="8.05", currency_code="EUR")
    after = await stub1.GetProduct(v1.GetProductRequest(name=created.name))
    assert after.title == "Renamed in v2" and after.description == before.description
    assert (after.price.units, after.price.nanos) == (8, 50_000_000)
    assert after.etag == updated.etag != before.etag
    assert_same_product(after, updated)

    # and the other way: a v1 update, read through v2; v2's stale etag is refused
    await stub1.UpdateProduct(
        v1.UpdateProductRequest(
            product=v1.Product(name=created.name, title="Back in v1", etag=after.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )
    )
    assert (await stub2.GetProduct(v2.GetProductRequest(name=created.name))).display_name == (
        "Back in v1"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub2.DeleteProduct(v2.DeleteProductRequest(name=created.name, etag=updated.etag))
    assert err.value.code() is grpc.StatusCode.ABORTED


async def test_v2_filters_and_orders_by_display_name(
    stub1: v1_grpc.CatalogServiceStub, stub2: v2_grpc.CatalogServiceStub, unique: str
) -> None:
    category = f"cat-{unique}"
    for i, title in enumerate(["Cup", "Bowl", "Cup", "Amphora"]):
        await stub1.CreateProduct(
            v1.CreateProductRequest(
                product=new_product(f"{unique}-{i}", title=title, category=category)
            )
        )
    cups = await stub2.ListProducts(
        v2.ListProductsRequest(filter=f'display_name = "Cup" AND category = "{category}"')
    )
    assert [p.display_name for p in cups.products] == ["Cup", "Cup"]

    names: list[str] = []
    token = ""
    while True:
        page = await stub2.ListProducts(
            v2.ListProductsRequest(
                filter=f'category = "{category}" AND display_name != "Bowl"',
                order_by="display_name desc",
                page_size=2,
                page_token=token,
            )
        )
        names += [p.display_name for p in page.products]
        token = page.next_page_token
        if not token:
            break
    assert names == ["Cup", "Cup", "Amphora"]

    # v1's words are not v2's, and the other way round
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub2.ListProducts(v2.ListProductsRequest(filter='title = "Cup"', order_by="title"))
    violations, _ = rich_status(err.value)
    assert "filterable: display_name, category, price" in violations["filter"]
    assert "cannot order by 'title'" in violations["order_by"]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub1.ListProducts(v1.ListProductsRequest(filter='display_name = "Cup"'))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("12.5000000001", "at most 9 are allowed"),
        ("12,50", "is not a decimal amount"),
        ("1e3", "is not a decimal amount"),
        ("", "is required"),
        ("-1.00", "must not be negative"),
    ],
)
async def test_v2_bad_amount_is_invalid_argument_naming_the_field(
    stub2: v2_grpc.CatalogServiceStub, unique: str, amount: str, why: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub2.CreateProduct(v2.CreateProductRequest(product=v2_product(unique, amount)))
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations, info = rich_status(err.value)
    assert (
        list(violations) == ["product.price.amount"] and why in violations["product.price.amount"]
    )
    assert info.reason == "INVALID_ARGUMENT"
    assert "product.price.amount" in (err.value.details() or "")


async def test_v2_errors_speak_v2(stub2: v2_grpc.CatalogServiceStub, unique: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub2.CreateProduct(
            v2.CreateProductRequest(product=v2_product(unique, display_name=""))
        )
    assert set(rich_status(err.value)[0]) == {"product.display_name"}

    created = await stub2.CreateProduct(v2.CreateProductRequest(product=v2_product(unique)))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub2.UpdateProduct(
            v2.UpdateProductRequest(
                product=v2.Product(name=created.name, display_name="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        )
    violations, _ = rich_status(err.value)
    assert "unknown field 'title'" in violations["update_mask"]


async def test_one_process_serves_both_with_health_and_reflection(
    channel: grpc.aio.Channel,
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for name in (V1_SERVICE, V2_SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = [s.name async for r in responses for s in r.list_services_response.service]
    assert {V1_SERVICE, V2_SERVICE} <= set(names)


# --- REST through the gateway --------------------------------------------------------------------


def _query(**params: str) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


async def test_rest_v1_and_v2_read_the_same_product(rest: int, unique: str) -> None:
    v1_body = {
        "sku": f"SKU-{unique}",
        "title": f"Teapot {unique}",
        "price": {"currencyCode": "EUR", "units": "35", "nanos": 500000000},
        "stock": "3",
    }
    r = await request(rest, "POST", f"/v1/products?productId=a-{unique}", json_body=v1_body)
    assert r.status == 201, r.body
    r2 = await request(rest, "GET", f"/v2/products/a-{unique}")
    assert r2.status == 200, r2.body
    product = r2.json()
    assert product["displayName"] == f"Teapot {unique}" and "title" not in product
    assert product["price"] == {"amount": "35.50", "currencyCode": "EUR"}
    assert product["etag"] == r.json()["etag"]

    v2_body = {
        "sku": f"SKU2-{unique}",
        "displayName": f"Kettle {unique}",
        "price": {"amount": "49.999", "currencyCode": "EUR"},
        "stock": "1",
    }
    r = await request(rest, "POST", f"/v2/products?productId=b-{unique}", json_body=v2_body)
    assert r.status == 201, r.body
    r1 = await request(rest, "GET", f"/v1/products/b-{unique}")
    assert r1.status == 200, r1.body
    assert r1.json()["title"] == f"Kettle {unique}"
    assert r1.json()["price"] == {"currencyCode": "EUR", "units": "49", "nanos": 999000000}

    # PATCH v2 with an explicit mask, then read through v1
    mask = _query(updateMask="displayName,price.amount")
    r = await request(
        rest,
        "PATCH",
        f"/v2/products/b-{unique}?{mask}",
        json_body={
            "displayName": f"Kettle, steel {unique}",
            "price": {"amount": "45"},
            "stock": "99",
        },
    )
    assert r.status == 200, r.body
    assert r.json()["price"] == {"amount": "45.00", "currencyCode": "EUR"}
    r1 = await request(rest, "GET", f"/v1/products/b-{unique}")
    assert r1.json()["title"] == f"Kettle, steel {unique}" and r1.json()["stock"] == "1"
    assert r1.json()["price"] == {"currencyCode": "EUR", "units": "45", "nanos": 0}

    # v2's filter by display name over REST
    filt = _query(filter=f'display_name = "Kettle, steel {unique}" AND price <= 45', pageSize="10")
    r = await request(rest, "GET", f"/v2/products?{filt}")
    assert r.status == 200, r.body
    assert [p["name"] for p in r.json()["products"]] == [f"products/b-{unique}"]


async def test_rest_v2_bad_amount_is_a_400_naming_the_field(rest: int, unique: str) -> None:
    body = {
        "sku": f"SKU-{unique}",
        "displayName": "Lamp",
        "price": {"amount": "12.5000000001", "currencyCode": "EUR"},
    }
    r = await request(rest, "POST", "/v2/products", json_body=body)
    assert r.status == 400, r.body
    error = r.json()
    assert error["code"] == 3 and "product.price.amount" in error["message"]
    bad = [d for d in error["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    assert [v["field"] for v in bad[0]["fieldViolations"]] == ["product.price.amount"]
