"""Defense in depth: every service enforces its contract's policies on direct gRPC calls.

Real catalog and orders servers with AUTH_MODE=enforce (the default once AUTH_JWKS is set),
real tokens from a local issuer, real gRPC channels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.server import ServiceServer
from tests.authkit import AuthKit
from tests.conftest import StartCatalog, make_settings
from tests.integration.helpers import new_product

pytestmark = pytest.mark.integration
WRITE = "catalog.products.write"
Catalog = tuple[catalog_pb2_grpc.CatalogServiceStub, str]


@pytest.fixture
def kit(tmp_path: Path) -> AuthKit:
    return AuthKit(tmp_path / "auth")


@pytest.fixture
async def catalog(
    start_catalog: StartCatalog, kit: AuthKit
) -> AsyncIterator[tuple[catalog_pb2_grpc.CatalogServiceStub, str]]:
    _, target = await start_catalog(**kit.service_env())
    async with grpc.aio.insecure_channel(target) as channel:
        yield catalog_pb2_grpc.CatalogServiceStub(channel), target


@pytest.fixture
async def start_orders_with(
    database_url: str, catalog: tuple[object, str], kit: AuthKit
) -> AsyncIterator[object]:
    from colonnade.orders.app import OrdersSettings, create_server

    servers: list[ServiceServer] = []

    async def start(identity: bool) -> orders_pb2_grpc.OrdersServiceStub:
        env = kit.service_env("orders", "catalog.reservations.write") if identity else {}
        if not identity:
            env = kit.service_env()
        runtime = make_settings(database_url, "none", service_name="orders", **env)
        server, port = await create_server(OrdersSettings(runtime, catalog[1]))
        await server.start()
        servers.append(server)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        return orders_pb2_grpc.OrdersServiceStub(channel)

    yield start
    for server in servers:
        await server.stop(grace=0)


def create(unique: str, stock: int = 5) -> catalog_pb2.CreateProductRequest:
    return catalog_pb2.CreateProductRequest(product=new_product(unique, stock=stock))


async def refused(call: object, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    assert info.value.code() == code, info.value.details()
    return str(info.value.details())


async def test_a_direct_call_without_a_token_is_refused(
    catalog: Catalog, kit: AuthKit, unique: str
) -> None:
    stub, _ = catalog
    message = await refused(stub.CreateProduct(create(unique)), grpc.StatusCode.UNAUTHENTICATED)
    assert "needs a bearer token" in message
    bad = [("authorization", "Bearer not-a-jwt")]
    await refused(stub.CreateProduct(create(unique), metadata=bad), grpc.StatusCode.UNAUTHENTICATED)
    expired = [("authorization", "Bearer " + kit.token("alice", WRITE, ttl=-120))]
    message = await refused(
        stub.CreateProduct(create(unique), metadata=expired), grpc.StatusCode.UNAUTHENTICATED
    )
    assert "expired" in message


async def test_scopes_are_enforced_and_client_principal_metadata_is_ignored(
    catalog: Catalog, kit: AuthKit, unique: str
) -> None:
    stub, _ = catalog
    reader = [("authorization", "Bearer " + kit.token("mallory", "orders.read"))]
    message = await refused(
        stub.CreateProduct(create(unique), metadata=reader), grpc.StatusCode.PERMISSION_DENIED
    )
    assert "mallory lacks scope catalog.products.write" in message
    # Claiming to be someone else through the gateway's metadata changes nothing: only a
    # trusted delegate's (the gateway's) forwarded principal is believed.
    forged = [
        *reader,
        ("x-colonnade-principal", "admin"),
        ("x-colonnade-scopes", WRITE),
    ]
    await refused(
        stub.CreateProduct(create(unique), metadata=forged), grpc.StatusCode.PERMISSION_DENIED
    )
    writer = [("authorization", "Bearer " + kit.token("alice", WRITE))]
    created = await stub.CreateProduct(create(unique), metadata=writer)
    assert created.sku == f"SKU-{unique}"


async def test_the_gateway_identity_delegates_the_principal_it_verified(
    catalog: Catalog, kit: AuthKit, unique: str
) -> None:
    stub, _ = catalog
    gateway = kit.gateway_key.mint(
        "service:gateway", (), issuer="https://issuer.colonnade.test", audience="colonnade"
    )
    base = [("authorization", "Bearer " + gateway)]
    await refused(
        stub.CreateProduct(
            create(unique),
            metadata=[*base, ("x-colonnade-principal", "bob"), ("x-colonnade-scopes", "x.y")],
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    delegated = [*base, ("x-colonnade-principal", "bob"), ("x-colonnade-scopes", WRITE)]
    assert (await stub.CreateProduct(create(unique), metadata=delegated)).sku


async def test_public_methods_and_health_need_no_token(catalog: Catalog, unique: str) -> None:
    stub, target = catalog
    await refused(
        stub.GetProduct(catalog_pb2.GetProductRequest(name=f"products/none-{unique}")),
        grpc.StatusCode.NOT_FOUND,
    )
    async with grpc.aio.insecure_channel(target) as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_orders_reserves_stock_with_its_service_identity(
    catalog: Catalog, start_orders_with: Any, kit: AuthKit, unique: str
) -> None:
    stub, _ = catalog
    writer = [("authorization", "Bearer " + kit.token("alice", WRITE))]
    product = await stub.CreateProduct(create(unique, stock=3), metadata=writer)
    # A user cannot reserve stock directly: that is the orders service's scope.
    reserve = catalog_pb2.ReserveStockRequest(
        reservation_id=f"r-{unique}",
        items=[catalog_pb2.ReservationItem(product=product.name, quantity=1)],
    )
    await refused(stub.ReserveStock(reserve, metadata=writer), grpc.StatusCode.PERMISSION_DENIED)

    order = orders_pb2.CreateOrderRequest(
        order=orders_pb2.Order(
            currency_code="EUR",
            line_items=[orders_pb2.LineItem(product=product.name, quantity=2)],
        )
    )
    buyer = [("authorization", "Bearer " + kit.token("alice", "orders.write"))]
    orders = await start_orders_with(identity=True)
    await refused(orders.CreateOrder(order), grpc.StatusCode.UNAUTHENTICATED)
    placed = await orders.CreateOrder(order, metadata=buyer)
    assert placed.state == orders_pb2.Order.State.CONFIRMED
    left = await stub.GetProduct(catalog_pb2.GetProductRequest(name=product.name))
    assert left.stock == 1
    # Without an identity of its own, orders is refused by the catalog: nothing is sold.
    anonymous = await start_orders_with(identity=False)
    with pytest.raises(grpc.aio.AioRpcError):
        await anonymous.CreateOrder(order, metadata=buyer)
    left = await stub.GetProduct(catalog_pb2.GetProductRequest(name=product.name))
    assert left.stock == 1


async def test_in_aws_shape_orders_reserves_with_client_credentials(
    start_catalog: StartCatalog, database_url: str, unique: str
) -> None:
    """As the environments run it: catalog and orders verify Cognito-shaped access tokens
    (no aud, token_use, client_id, prefixed scopes) from a stand-in pool, and orders calls
    catalog with a token it got for its client credentials."""
    from colonnade.orders.app import OrdersSettings, create_server
    from colonnade_tools.devstack.issuer import AppClient, Issuer

    pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test"
    prefix = "colonnade-test/"
    issuer = Issuer(
        pool,
        {
            "orders-client": AppClient(
                "s3cret", frozenset({prefix + "catalog.reservations.write"})
            ),
            "web-client": AppClient("", frozenset({prefix + WRITE, prefix + "orders.write"})),
        },
    )
    url = issuer.start()
    verify = {
        "auth_jwks": f"{url}/eu-west-1_Test/.well-known/jwks.json",
        "auth_issuer": pool,
        "auth_token_use": "access",
        "auth_client_ids": "orders-client,web-client",
        "auth_scope_prefix": prefix,
    }
    orders_server = None
    try:
        _, target = await start_catalog(**verify)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            user = issuer.user_token(
                "web-client", "alice", [prefix + WRITE, prefix + "orders.write"]
            )
            as_user = [("authorization", f"Bearer {user}")]
            product = await stub.CreateProduct(create(unique, stock=3), metadata=as_user)
            runtime = make_settings(
                database_url,
                "none",
                service_name="orders",
                service_token_url=f"{url}/oauth2/token",
                service_client_id="orders-client",
                service_client_secret="s3cret",
                service_token_scopes="catalog.reservations.write",
                **verify,
            )
            orders_server, port = await create_server(OrdersSettings(runtime, target))
            await orders_server.start()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as orders_channel:
                orders = orders_pb2_grpc.OrdersServiceStub(orders_channel)
                order = orders_pb2.CreateOrderRequest(
                    order=orders_pb2.Order(
                        currency_code="EUR",
                        line_items=[orders_pb2.LineItem(product=product.name, quantity=2)],
                    )
                )
                placed = await orders.CreateOrder(order, metadata=as_user)
            assert placed.state == orders_pb2.Order.State.CONFIRMED
            left = await stub.GetProduct(catalog_pb2.GetProductRequest(name=product.name))
            assert left.stock == 1
            assert [c for c, _ in issuer.requests] == ["orders-client"]
    finally:
        if orders_server is not None:
            await orders_server.stop(grace=0)
        issuer.stop()
