"""Metrics of the services and the gateway against scripted calls, read back exactly.

Real servers (in process), real PostgreSQL and memcached; counts are read from each
server's own registry and from its admin port's `/metrics` (Prometheus text, parsed with
prometheus-client's parser), and must equal what the script did.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.metrics import LATENCY_BUCKETS, QUERY_BUCKETS
from tests.conftest import StartCatalog, running_gateway
from tests.integration.helpers import new_product

pytestmark = pytest.mark.integration


def scrape(
    port: int, path: str = "/metrics"
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """`/metrics` over HTTP, as {(sample name, labels): value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def buckets_of(samples: dict[Any, float], name: str, **labels: str) -> list[float]:
    bounds = []
    for (sample, items), _ in samples.items():
        found = dict(items)
        if sample == name + "_bucket" and all(found.get(k) == v for k, v in labels.items()):
            bounds.append(float(found["le"]))
    return sorted(bounds)


async def test_service_counts_codes_and_histograms_match_a_script(
    start_catalog: StartCatalog, unique: str
) -> None:
    server, target = await start_catalog(admin_port=0, service_name="catalog-metrics")
    port = server.observability.admin_port
    assert port is not None
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"m-{unique}")
        )
        for _ in range(3):
            await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        for _ in range(2):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=f"products/no-{unique}"))
            assert err.value.code() is grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateProduct(
                catalog_pb2.CreateProductRequest(product=catalog_pb2.Product())
            )
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    samples = await asyncio.to_thread(scrape, port)
    svc = "catalog-metrics"
    requests = "colonnade_rpc_server_requests_total"
    assert value(samples, requests, service=svc, method="CreateProduct", code="OK") == 1
    assert (
        value(samples, requests, service=svc, method="CreateProduct", code="INVALID_ARGUMENT") == 1
    )
    assert value(samples, requests, service=svc, method="GetProduct", code="OK") == 3
    assert value(samples, requests, service=svc, method="GetProduct", code="NOT_FOUND") == 2
    got = {
        (dict(items)["method"], dict(items)["code"]): v
        for (name, items), v in samples.items()
        if name == requests and dict(items).get("method") in ("GetProduct", "CreateProduct")
    }
    assert got == {
        ("CreateProduct", "OK"): 1,
        ("CreateProduct", "INVALID_ARGUMENT"): 1,
        ("GetProduct", "OK"): 3,
        ("GetProduct", "NOT_FOUND"): 2,
    }
    duration = "colonnade_rpc_server_duration_seconds"
    assert value(samples, duration + "_count", service=svc, method="GetProduct") == 5
    assert value(samples, duration + "_count", service=svc, method="CreateProduct") == 2
    assert buckets_of(samples, duration, method="GetProduct") == [*LATENCY_BUCKETS, float("inf")]
    assert value(samples, "colonnade_rpc_server_in_flight", service=svc, method="GetProduct") == 0
    # Every GetProduct looks in the cache once: 5 lookups, each a hit or a miss.
    hits = value(samples, "colonnade_cache_requests_total", service=svc, result="hit")
    misses = value(samples, "colonnade_cache_requests_total", service=svc, result="miss")
    assert hits + misses == 5 and hits >= 2 and misses >= 2  # the two unknown names miss
    assert value(samples, "colonnade_cache_degraded", service=svc) == 0
    queries = buckets_of(samples, "colonnade_db_query_duration_seconds", operation="fetchrow")
    assert queries == [*QUERY_BUCKETS, float("inf")]
    assert value(samples, "colonnade_db_pool_connections", service=svc, state="max") == 10
    assert value(samples, "colonnade_db_pool_connections", service=svc, state="in_use") == 0
    assert value(samples, "process_cpu_seconds_total") > 0
    assert value(samples, "process_resident_memory_bytes") > 10_000_000


async def test_cache_degraded_gauge_flips_when_memcached_stops(
    start_catalog: StartCatalog, fresh_memcached: Any, unique: str
) -> None:
    server, target = await start_catalog(cache_url=fresh_memcached.url, service_name="catalog-deg")
    metrics = server.observability.metrics
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"d-{unique}")
        )
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert metrics.sample("colonnade_cache_degraded", service="catalog-deg") == 0
        assert metrics.sample("colonnade_cache_degraded_seconds_total", service="catalog-deg") == 0

        fresh_memcached.stop()
        got = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert got.name == created.name  # served from the database
        assert metrics.sample("colonnade_cache_degraded", service="catalog-deg") == 1
        errors = metrics.sample(
            "colonnade_cache_errors_total", service="catalog-deg", command="get"
        )
        assert errors >= 1
        await asyncio.sleep(0.2)
        degraded_for = metrics.sample(
            "colonnade_cache_degraded_seconds_total", service="catalog-deg"
        )
        assert degraded_for >= 0.2

        fresh_memcached.start()
        await asyncio.sleep(1.1)  # the node is retried after 1 s
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert metrics.sample("colonnade_cache_degraded", service="catalog-deg") == 0
        total = metrics.sample("colonnade_cache_degraded_seconds_total", service="catalog-deg")
        await asyncio.sleep(0.2)
        # Recovered: the degraded time stops growing.
        assert (
            metrics.sample("colonnade_cache_degraded_seconds_total", service="catalog-deg") == total
        )


async def test_gateway_counts_routes_and_statuses(start_catalog: StartCatalog, unique: str) -> None:
    _, target = await start_catalog()
    async with running_gateway(target) as port:
        base = f"http://127.0.0.1:{port}"

        def script() -> None:
            def call(method: str, path: str, body: bytes | None = None) -> int:
                req = urllib.request.Request(base + path, data=body, method=method)
                req.add_header("content-type", "application/json")
                try:
                    with urllib.request.urlopen(req, timeout=5) as r:
                        return int(r.status)
                except urllib.error.HTTPError as e:
                    with e:  # its response holds the socket until closed
                        return int(e.code)

            body = (
                b'{"sku":"G-%s","title":"Gauge","price":{"currencyCode":"EUR","units":"3"}}'
                % unique.encode()
            )
            assert call("POST", f"/v1/products?productId=g-{unique}", body) == 201
            for _ in range(4):
                assert call("GET", f"/v1/products/g-{unique}") == 200
            for _ in range(3):
                assert call("GET", f"/v1/products/none-{unique}") == 404
            assert call("GET", "/v1/nothing/here") == 404
            assert call("GET", "/healthz") == 200

        await asyncio.to_thread(script)
        samples = await asyncio.to_thread(scrape, port)
    requests = "colonnade_http_requests_total"
    got = {
        (dict(items)["method"], dict(items)["route"], dict(items)["code"]): v
        for (name, items), v in samples.items()
        if name == requests
    }
    assert got == {
        ("POST", "/v1/products", "201"): 1,
        ("GET", "/v1/{name=products/*}", "200"): 4,
        ("GET", "/v1/{name=products/*}", "404"): 3,
        ("GET", "(unrouted)", "404"): 1,
        ("GET", "/healthz", "200"): 1,
    }
    duration = "colonnade_http_request_duration_seconds"
    count = value(
        samples, duration + "_count", service="gateway", route="/v1/{name=products/*}", method="GET"
    )
    assert count == 7
    assert buckets_of(samples, duration, route="/v1/products") == [*LATENCY_BUCKETS, float("inf")]
    assert value(samples, "colonnade_http_in_flight", service="gateway") == 0


async def test_status_page_shows_each_component_and_refreshes_itself(
    start_catalog: StartCatalog, unique: str
) -> None:
    from colonnade.gateway.app import Gateway
    from colonnade.gateway.config import GatewayConfig
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.server import serve
    from tests.conftest import CATALOG_DESCRIPTORS

    catalog, target = await start_catalog(admin_port=0, service_name="catalog-status")
    admin = catalog.observability.admin_port
    cfg = GatewayConfig(
        descriptors=[str(CATALOG_DESCRIPTORS)],
        backends=[
            f"colonnade.catalog.v1.CatalogService={target}",
            f"colonnade.catalog.v2.CatalogService={target}",
            "colonnade.orders.v1.OrdersService=127.0.0.1:1",  # nothing listens: NOT SERVING
        ],
        policies=False,
        port=0,
        status_sources=[f"catalog=http://127.0.0.1:{admin}", "orders=http://127.0.0.1:1"],
    )
    app = Gateway(cfg, load_registry(cfg.descriptors))
    await app.startup()
    server = await serve(app, "127.0.0.1", 0, error_page=app.error_page)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=f"products/s-{unique}"))

        def fetch(path: str) -> tuple[str, bytes]:
            with urllib.request.urlopen(base + path, timeout=10) as r:
                return str(r.headers["content-type"]), r.read()

        ctype, page = await asyncio.to_thread(fetch, "/status")
        assert ctype.startswith("text/html")
        assert b'fetch("status.json"' in page and b"setInterval(refresh, 2000)" in page
        ctype, raw = await asyncio.to_thread(fetch, "/status.json")
        assert ctype == "application/json"
        status = json.loads(raw)
    finally:
        server.close()
        await app.shutdown()
    assert status["backends"]["colonnade.catalog.v1.CatalogService"] == "SERVING"
    assert status["backends"]["colonnade.orders.v1.OrdersService"] != "SERVING"
    assert status["gateway"]["service"] == "gateway" and status["gateway"]["rss_bytes"] > 0
    svc = status["services"]["catalog"]
    assert svc["service"] == "catalog-status"
    assert svc["rpc"]["GetProduct"]["requests"] == 1 and svc["rpc"]["GetProduct"]["errors"] == 0
    assert svc["rpc"]["GetProduct"]["p99_seconds"] in LATENCY_BUCKETS
    assert svc["db_pool"]["max"] == 10 and svc["cache"] == {
        "degraded": False,
        "hits": 0,
        "misses": 1,
    }
    assert "error" in status["services"]["orders"]  # its admin port does not answer


async def test_internal_client_calls_counted_by_target_method_and_code(
    start_catalog: StartCatalog, database_url: str, unique: str
) -> None:
    from colonnade.orders.app import OrdersSettings
    from colonnade.orders.app import create_server as create_orders
    from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
    from tests.conftest import make_settings

    _, catalog_target = await start_catalog()
    orders, port = await create_orders(
        OrdersSettings(make_settings(database_url, "none", service_name="orders-m"), catalog_target)
    )
    await orders.start()
    try:
        async with grpc.aio.insecure_channel(catalog_target) as channel:
            await catalog_pb2_grpc.CatalogServiceStub(channel).CreateProduct(
                catalog_pb2.CreateProductRequest(
                    product=new_product(unique, stock=3), product_id=f"c-{unique}"
                )
            )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = orders_pb2_grpc.OrdersServiceStub(channel)

            def order(quantity: int) -> orders_pb2.CreateOrderRequest:
                req = orders_pb2.CreateOrderRequest()
                req.order.currency_code = "EUR"
                item = req.order.line_items.add()
                item.product, item.quantity = f"products/c-{unique}", quantity
                return req

            await stub.CreateOrder(order(2))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.CreateOrder(order(5))  # 1 left
            assert err.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    finally:
        await orders.stop(grace=0)
    calls = {
        (labels["target"], labels["method"], labels["code"]): v
        for labels, v in orders.observability.metrics.samples("colonnade_rpc_client_requests_total")
    }
    t = catalog_target
    assert calls == {
        (t, "GetProduct", "OK"): 2,  # each order prices its item first
        (t, "ReserveStock", "OK"): 1,
        (t, "CommitReservation", "OK"): 1,
        (t, "ReserveStock", "FAILED_PRECONDITION"): 1,
        (t, "ReleaseReservation", "OK"): 1,  # the refusal is compensated (README: the saga)
    }
    served = {
        (labels["method"], labels["code"]): v
        for labels, v in orders.observability.metrics.samples("colonnade_rpc_server_requests_total")
    }
    assert (
        served[("CreateOrder", "OK")] == 1 and served[("CreateOrder", "FAILED_PRECONDITION")] == 1
    )


async def test_pool_exhaustion_is_counted(start_catalog: StartCatalog, unique: str) -> None:
    server, target = await start_catalog(db_pool_min=1, db_pool_max=1, service_name="catalog-pool")
    metrics = server.observability.metrics
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        # Twelve at once on one connection. On a loaded machine the server may happen to
        # finish each call before it takes the next, so a burst is sent again (up to five
        # times) until two overlapped; each burst takes one connection per call.
        for _ in range(5):
            before = metrics.sample(
                "colonnade_db_pool_acquire_duration_seconds_count", service="catalog-pool"
            )
            await asyncio.gather(
                *(
                    stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=5))
                    for _ in range(12)
                )
            )
            acquired = metrics.sample(
                "colonnade_db_pool_acquire_duration_seconds_count", service="catalog-pool"
            )
            assert acquired - before == 12  # one connection per call
            exhausted = metrics.sample("colonnade_db_pool_exhausted_total", service="catalog-pool")
            if exhausted >= 1:
                break
    # Twelve at once on one connection: the others waited. The reservation expiry sweep (at
    # start, then every 5 s) holds the same connection for a moment, so even the first may wait.
    assert 1 <= exhausted <= 60
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for _ in range(5):  # one after the other: the connection is idle for each
            await stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=5))
    after = metrics.sample("colonnade_db_pool_exhausted_total", service="catalog-pool")
    assert after - exhausted <= 1, "only a call that meets a sweep may find the pool busy"
    assert metrics.sample("colonnade_db_pool_connections", service="catalog-pool", state="max") == 1
