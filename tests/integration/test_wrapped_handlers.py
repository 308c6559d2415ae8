"""The service layers applied at registration decide and record exactly what they did as
grpc.aio interceptors (which the serverless path still runs in process).

Two real servers answer the same probe servicer (catalog's and orders' contracts, their real
policies and token verification): one from ``build_server`` (handlers wrapped once, no
interceptor chain), one with the same layers as grpc.aio interceptors. Every case must end
with the same code, message and response, the request id in the trailers, and the same
access-log line.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.observability import Observability
from colonnade.runtime.server import build_server, contract_policies, service_interceptors
from colonnade.runtime.settings import Settings
from tests.authkit import AuthKit

pytestmark = pytest.mark.integration
CATALOG = "colonnade.catalog.v1.CatalogService"
ORDERS = "colonnade.orders.v1.OrdersService"


class Catalog(catalog_pb2_grpc.CatalogServiceServicer):  # type: ignore[misc]
    async def GetProduct(self, request: Any, context: Any) -> catalog_pb2.Product:
        return catalog_pb2.Product(name=request.name, title="probe")

    async def CreateProduct(self, request: Any, context: Any) -> catalog_pb2.Product:
        return catalog_pb2.Product(name=f"products/{request.product_id}", sku=request.product.sku)


class Orders(orders_pb2_grpc.OrdersServiceServicer):  # type: ignore[misc]
    async def WatchOrder(self, request: Any, context: Any) -> AsyncIterator[Any]:
        for state in (orders_pb2.Order.PENDING, orders_pb2.Order.CONFIRMED):
            yield orders_pb2.WatchOrderResponse(
                order=orders_pb2.Order(name=request.name, state=state)
            )


def register(server: grpc.aio.Server) -> Sequence[str]:
    catalog_pb2_grpc.add_CatalogServiceServicer_to_server(Catalog(), server)
    orders_pb2_grpc.add_OrdersServiceServicer_to_server(Orders(), server)
    return [CATALOG, ORDERS]


@pytest.fixture
async def targets(tmp_path: Path) -> AsyncIterator[tuple[AuthKit, dict[str, str]]]:
    kit = AuthKit(tmp_path / "auth")
    env = {k.upper(): v for k, v in kit.service_env().items()}
    settings = Settings.from_env(
        {"GRPC_HOST": "127.0.0.1", "GRPC_PORT": "0", "LOG_ACCESS": "true", **env},
        service_name="probe",
    )
    wrapped, port = build_server(settings, register)
    await wrapped.start()
    own, auth = service_interceptors(settings, Observability.disabled("probe"))
    assert auth is not None  # AUTH_MODE=enforce follows AUTH_JWKS
    auth.policies.update(contract_policies([CATALOG, ORDERS]))
    chained = grpc.aio.server(interceptors=own)
    register(chained)
    health_pb2_grpc.add_HealthServicer_to_server(wrapped.health, chained)
    chained_port = chained.add_insecure_port("127.0.0.1:0")
    await chained.start()
    try:
        yield kit, {"wrapped": f"127.0.0.1:{port}", "chained": f"127.0.0.1:{chained_port}"}
    finally:
        await chained.stop(0)
        await wrapped.stop(grace=0)


async def outcome(target: str, case: str, metadata: list[tuple[str, str]]) -> tuple[Any, ...]:
    """(code, details, response, whether the trailers carry a request id) of one call."""
    async with grpc.aio.insecure_channel(target) as channel:
        if case == "create":
            call: Any = catalog_pb2_grpc.CatalogServiceStub(channel).CreateProduct(
                catalog_pb2.CreateProductRequest(
                    product_id="p-1", product=catalog_pb2.Product(sku="S-1")
                ),
                metadata=metadata,
            )
        elif case == "get":
            call = catalog_pb2_grpc.CatalogServiceStub(channel).GetProduct(
                catalog_pb2.GetProductRequest(name="products/p-1"), metadata=metadata
            )
        elif case == "health":
            call = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), metadata=metadata
            )
        else:
            call = orders_pb2_grpc.OrdersServiceStub(channel).WatchOrder(
                orders_pb2.WatchOrderRequest(name="orders/o-1"), metadata=metadata
            )
        try:
            if case == "watch":
                response: Any = [r.SerializeToString() async for r in call]
            else:
                response = (await call).SerializeToString()
        except grpc.aio.AioRpcError as exc:
            response = None
            code, details = exc.code(), exc.details()
        else:
            code, details = await call.code(), await call.details()
        trailers = dict(await call.trailing_metadata() or ())
        return code, details, response, bool(trailers.get("x-request-id"))


async def test_registration_time_layers_decide_and_log_as_the_interceptor_chain(
    targets: tuple[AuthKit, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    kit, target = targets
    bearer = {
        "none": [],
        "garbage": [("authorization", "Bearer not-a-jwt")],
        "expired": [
            ("authorization", "Bearer " + kit.token("alice", "catalog.products.write", ttl=-120))
        ],
        "reader": [("authorization", "Bearer " + kit.token("mallory", "orders.read"))],
        "writer": [("authorization", "Bearer " + kit.token("alice", "catalog.products.write"))],
    }
    seen: dict[tuple[str, str], tuple[Any, ...]] = {}
    for case in ("create", "get", "watch", "health"):
        for who, metadata in bearer.items():
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="colonnade.access"):
                both = {name: await outcome(t, case, metadata) for name, t in target.items()}
            assert both["wrapped"] == both["chained"], (case, who)
            assert both["wrapped"][3], f"{case} as {who}: no x-request-id trailer"
            lines = sorted(
                (r.__dict__["method"], r.__dict__["code"])
                for r in caplog.records
                if r.name == "colonnade.access"
            )
            assert len(lines) == 2 and lines[0] == lines[1], (case, who, lines)
            seen[case, who] = both["wrapped"]
    # The cases cover what the policies decide: each refusal and each way through.
    assert seen["create", "none"][0] == grpc.StatusCode.UNAUTHENTICATED
    assert "needs a bearer token" in seen["create", "none"][1]
    assert seen["create", "expired"][0] == grpc.StatusCode.UNAUTHENTICATED
    assert seen["create", "reader"][0] == grpc.StatusCode.PERMISSION_DENIED
    assert seen["create", "writer"][0] == grpc.StatusCode.OK
    assert seen["get", "none"][0] == grpc.StatusCode.OK  # public
    assert seen["watch", "none"][0] == grpc.StatusCode.UNAUTHENTICATED
    assert seen["watch", "reader"][0] == grpc.StatusCode.OK
    assert len(seen["watch", "reader"][2]) == 2
    assert seen["health", "garbage"][0] == grpc.StatusCode.OK  # health is open
