"""The catalog service over real gRPC channels, on real PostgreSQL and memcached."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import field_mask_pb2

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from tests.integration.helpers import new_product, rich_status

pytestmark = pytest.mark.integration


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> catalog_pb2_grpc.CatalogServiceStub:
    return catalog_pb2_grpc.CatalogServiceStub(channel)


async def create(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str, **kw: object
) -> catalog_pb2.Product:
    product_id = str(kw.pop("product_id", ""))
    created: catalog_pb2.Product = await stub.CreateProduct(
        catalog_pb2.CreateProductRequest(product=new_product(unique, **kw), product_id=product_id)
    )
    return created


async def test_create_get_update_delete(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique, product_id=f"p-{unique}")
    assert created.name == f"products/p-{unique}"
    assert created.etag and created.create_time.seconds > 0
    assert created.create_time == created.update_time

    fetched = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
    assert fetched == created

    changed = catalog_pb2.Product(name=created.name, title="Renamed", stock=9, etag=created.etag)
    updated = await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=changed, update_mask=field_mask_pb2.FieldMask(paths=["title", "stock"])
        )
    )
    assert (updated.title, updated.stock, updated.sku) == ("Renamed", 9, created.sku)
    assert updated.etag != created.etag
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()
    assert updated.price == created.price  # untouched by the mask

    await stub.DeleteProduct(catalog_pb2.DeleteProductRequest(name=created.name, etag=updated.etag))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
    assert err.value.code() is grpc.StatusCode.NOT_FOUND
    _, info = rich_status(err.value)
    assert info.reason == "RESOURCE_NOT_FOUND" and info.domain == "colonnade.dev"


async def test_server_assigns_ids(stub: catalog_pb2_grpc.CatalogServiceStub, unique: str) -> None:
    created = await create(stub, unique)
    assert created.name.startswith("products/") and len(created.name) > len("products/")


async def test_update_without_mask_updates_populated_fields(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique)
    updated = await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=catalog_pb2.Product(name=created.name, title="Only")
        )
    )
    assert updated.title == "Only" and updated.description == created.description


async def test_update_with_star_mask_replaces_everything(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique)
    replacement = new_product(unique, title="Whole", description="")
    replacement.name = created.name
    updated = await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=replacement, update_mask=field_mask_pb2.FieldMask(paths=["*"])
        )
    )
    assert updated.title == "Whole" and updated.description == ""


@pytest.mark.parametrize(
    ("product", "expected_fields"),
    [
        ({"title": ""}, {"product.title"}),
        ({"sku": ""}, {"product.sku"}),
        ({"stock": -1}, {"product.stock"}),
        ({"title": "", "stock": -2}, {"product.title", "product.stock"}),
    ],
)
async def test_create_invalid_arguments_name_each_field(
    stub: catalog_pb2_grpc.CatalogServiceStub,
    unique: str,
    product: dict[str, object],
    expected_fields: set[str],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create(stub, unique, **product)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations, info = rich_status(err.value)
    assert set(violations) == expected_fields
    assert info.reason == "INVALID_ARGUMENT"


async def test_negative_price_is_rejected(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    product = new_product(unique)
    product.price.units = -3
    product.price.nanos = -1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateProduct(catalog_pb2.CreateProductRequest(product=product))
    violations, _ = rich_status(err.value)
    assert set(violations) == {"product.price.units", "product.price.nanos"}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (catalog_pb2.ListProductsRequest(page_size=-1), "page_size"),
        (catalog_pb2.ListProductsRequest(page_size=1001), "page_size"),
        (catalog_pb2.ListProductsRequest(page_token="not-a-token"), "page_token"),
        (catalog_pb2.ListProductsRequest(filter="colour = 3"), "filter"),
        (catalog_pb2.ListProductsRequest(order_by="colour"), "order_by"),
    ],
)
async def test_list_invalid_arguments(
    stub: catalog_pb2_grpc.CatalogServiceStub, request_: catalog_pb2.ListProductsRequest, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListProducts(request_)
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    violations, _ = rich_status(err.value)
    assert list(violations) == [field]


async def test_malformed_names(stub: catalog_pb2_grpc.CatalogServiceStub) -> None:
    for call, request_, field in (
        (stub.GetProduct, catalog_pb2.GetProductRequest(name="items/1"), "name"),
        (stub.DeleteProduct, catalog_pb2.DeleteProductRequest(name=""), "name"),
        (
            stub.UpdateProduct,
            catalog_pb2.UpdateProductRequest(product=catalog_pb2.Product(name="x", title="t")),
            "product.name",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call(request_)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert field in rich_status(err.value)[0]


async def test_unknown_field_in_update_mask(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=created.name, title="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["title", "colour"]),
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "colour" in rich_status(err.value)[0]["update_mask"]
    again = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
    assert again.title == created.title  # nothing half-written


async def test_duplicate_sku_is_already_exists(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    first = await create(stub, unique)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create(stub, unique, title="Another")
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert rich_status(err.value)[1].metadata["field"] == "sku"
    # An update that would duplicate a SKU fails the same way and changes nothing.
    other = await create(stub, unique + "b", sku=f"OTHER-{unique}")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=other.name, sku=first.sku, title="changed"),
                update_mask=field_mask_pb2.FieldMask(paths=["sku", "title"]),
            )
        )
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS
    unchanged = await stub.GetProduct(catalog_pb2.GetProductRequest(name=other.name))
    assert unchanged.title == other.title and unchanged.sku == other.sku


async def test_duplicate_id_is_already_exists(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    await create(stub, unique, product_id=f"dup-{unique}")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create(stub, unique + "x", product_id=f"dup-{unique}")
    assert err.value.code() is grpc.StatusCode.ALREADY_EXISTS


async def test_stale_etag_is_aborted(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique)
    await stub.UpdateProduct(
        catalog_pb2.UpdateProductRequest(
            product=catalog_pb2.Product(name=created.name, title="v2", etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=created.name, title="v3", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        )
    assert err.value.code() is grpc.StatusCode.ABORTED
    assert rich_status(err.value)[1].reason == "ETAG_MISMATCH"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.DeleteProduct(
            catalog_pb2.DeleteProductRequest(name=created.name, etag=created.etag)
        )
    assert err.value.code() is grpc.StatusCode.ABORTED
    current = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
    assert current.title == "v2"


async def test_missing_product_update_and_delete_are_not_found(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    name = f"products/missing-{unique}"
    for call in (
        stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=name, title="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        ),
        stub.DeleteProduct(catalog_pb2.DeleteProductRequest(name=name)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_concurrent_updates_with_one_etag_exactly_one_wins(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    created = await create(stub, unique)

    async def attempt(i: int) -> grpc.StatusCode:
        try:
            await stub.UpdateProduct(
                catalog_pb2.UpdateProductRequest(
                    product=catalog_pb2.Product(name=created.name, stock=i, etag=created.etag),
                    update_mask=field_mask_pb2.FieldMask(paths=["stock"]),
                )
            )
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(attempt(i) for i in range(1, 13)))
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.ABORTED) == len(codes) - 1


async def test_filter_and_order(stub: catalog_pb2_grpc.CatalogServiceStub, unique: str) -> None:
    for i, (units, nanos) in enumerate([(5, 0), (10, 0), (10, 500_000_000), (20, 0), (30, 0)]):
        product = new_product(f"{unique}-{i}", category=f"f-{unique}", title=f"t{i}")
        product.price.units, product.price.nanos = units, nanos
        await stub.CreateProduct(catalog_pb2.CreateProductRequest(product=product))
    await create(stub, unique + "other", category=f"g-{unique}")
    reply = await stub.ListProducts(
        catalog_pb2.ListProductsRequest(
            filter=f'category = "f-{unique}" AND price >= 10 AND price < 20.5',
            order_by="price desc",
        )
    )
    assert [(p.price.units, p.price.nanos) for p in reply.products] == [
        (20, 0),
        (10, 500_000_000),
        (10, 0),
    ]
    assert reply.next_page_token == ""


async def _collect_pages(
    stub: catalog_pb2_grpc.CatalogServiceStub,
    request_: catalog_pb2.ListProductsRequest,
    between_pages: object,
) -> list[str]:
    seen: list[str] = []
    while True:
        reply = await stub.ListProducts(request_)
        seen.extend(p.name for p in reply.products)
        if not reply.next_page_token:
            return seen
        await between_pages()  # type: ignore[operator]
        request_.page_token = reply.next_page_token


@pytest.mark.parametrize("order_by", ["", "price desc, title", "title desc"])
async def test_pagination_with_concurrent_inserts(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str, order_by: str
) -> None:
    category = f"page-{unique}"
    originals = set()
    for i in range(23):
        product = new_product(f"{unique}-{i:02d}", category=category, title=f"title {i:02d}")
        product.price.units = i % 7
        originals.add(
            (await stub.CreateProduct(catalog_pb2.CreateProductRequest(product=product))).name
        )
    counter = iter(range(100, 200))

    async def insert_some() -> None:
        for _ in range(3):
            i = next(counter)
            product = new_product(f"{unique}-{i}", category=category, title=f"title {i % 23:02d}x")
            product.price.units = i % 7
            await stub.CreateProduct(catalog_pb2.CreateProductRequest(product=product))

    seen = await _collect_pages(
        stub,
        catalog_pb2.ListProductsRequest(
            page_size=5, filter=f'category = "{category}"', order_by=order_by
        ),
        insert_some,
    )
    assert len(seen) == len(set(seen)), "a product appeared on two pages"
    assert originals <= set(seen), "a product that existed throughout was skipped"


async def test_page_token_bound_to_its_query(
    stub: catalog_pb2_grpc.CatalogServiceStub, unique: str
) -> None:
    for i in range(3):
        await create(stub, f"{unique}-{i}", category=f"tok-{unique}")
    first = await stub.ListProducts(
        catalog_pb2.ListProductsRequest(page_size=2, filter=f'category = "tok-{unique}"')
    )
    assert first.next_page_token
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListProducts(
            catalog_pb2.ListProductsRequest(
                page_size=2, page_token=first.next_page_token, order_by="title"
            )
        )
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in rich_status(err.value)[0]


async def test_request_id_is_echoed(channel: grpc.aio.Channel, unique: str) -> None:
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    call = stub.ListProducts(
        catalog_pb2.ListProductsRequest(page_size=1), metadata=(("x-request-id", f"req-{unique}"),)
    )
    await call
    assert ("x-request-id", f"req-{unique}") in tuple(await call.trailing_metadata())
    call = stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=1))
    await call
    generated = dict(await call.trailing_metadata())["x-request-id"]
    assert len(generated) == 32
