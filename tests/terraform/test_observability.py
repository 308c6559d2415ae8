"""The observability module's dashboard and alarms read only metrics the services write.

Real catalog, orders and gateway servers (in process, real PostgreSQL and memcached) serve a
scripted sequence; their EMF writers render what CloudWatch would receive, every document is
checked against the EMF schema, and the metric names found in them are handed to the module's
own `terraform test` (modules/observability/tests/observability.tftest.hcl, with its
`emitted_metrics` replaced by these names): every metric the dashboard's widgets (plain
metrics and SEARCH expressions) and the alarms read must be among them.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from typing import Any

import pytest

from colonnade.orders.app import OrdersSettings
from colonnade.orders.app import create_server as create_orders
from tests.conftest import CATALOG_DESCRIPTORS, StartCatalog, make_settings
from tests.emfcheck import emf_problems

pytestmark = [pytest.mark.terraform, pytest.mark.integration]


async def emitted_documents(
    start_catalog: StartCatalog, database_url: str, unique: str
) -> list[dict[str, Any]]:
    from colonnade.gateway.app import Gateway
    from colonnade.gateway.config import GatewayConfig
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.server import serve

    catalog, catalog_target = await start_catalog()
    orders, orders_port = await create_orders(
        OrdersSettings(make_settings(database_url, "none", service_name="orders"), catalog_target)
    )
    await orders.start()
    cfg = GatewayConfig(
        descriptors=[str(CATALOG_DESCRIPTORS)],
        backends=[
            f"colonnade.catalog.v1.CatalogService={catalog_target}",
            f"colonnade.catalog.v2.CatalogService={catalog_target}",
            f"colonnade.orders.v1.OrdersService=127.0.0.1:{orders_port}",
        ],
        policies=False,  # the metric names are the subject, not the credentials
        port=0,
    )
    app = Gateway(cfg, load_registry(cfg.descriptors))
    await app.startup()
    server = await serve(app, "127.0.0.1", 0, error_page=app.error_page)
    base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:

        def script() -> None:
            def post(path: str, body: dict[str, Any]) -> None:
                req = urllib.request.Request(
                    base + path, data=json.dumps(body).encode(), method="POST"
                )
                req.add_header("content-type", "application/json")
                with urllib.request.urlopen(req, timeout=10) as r:
                    assert r.status == 201

            post(
                f"/v1/products?productId=o-{unique}",
                {
                    "sku": f"O-{unique}",
                    "title": "Observed",
                    "price": {"currencyCode": "EUR", "units": "2"},
                    "stock": "5",
                },
            )
            post(
                "/v1/orders",
                {
                    "currencyCode": "EUR",
                    "lineItems": [{"product": f"products/o-{unique}", "quantity": "1"}],
                },
            )

        await asyncio.to_thread(script)
        return [
            *catalog.observability.emf.documents(),
            *orders.observability.emf.documents(),
            *app.observability.emf.documents(),
        ]
    finally:
        server.close()
        await app.shutdown()
        await orders.stop(grace=0)


async def test_dashboard_and_alarms_read_only_metrics_the_services_write(
    start_catalog: StartCatalog, database_url: str, unique: str, initialised: Any
) -> None:
    docs = await emitted_documents(start_catalog, database_url, unique)
    names: set[str] = set()
    for doc in docs:
        assert emf_problems(doc) == [], doc
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            names.update(m["Name"] for m in directive["Metrics"])
    services = {doc["Service"] for doc in docs}
    assert {"catalog-test", "orders", "gateway"} <= services
    assert {
        "rpc_server_requests",
        "rpc_client_requests",
        "http_requests",
        "cache_degraded",
    } <= names

    workdir = initialised("modules/observability")
    source = (workdir.path / "tests" / "observability.tftest.hcl").read_text()
    listed = ", ".join(f'"{n}"' for n in sorted(names))
    emitted, count = re.subn(
        r"emitted_metrics = \[[^\]]*\]", f"emitted_metrics = [{listed}]", source
    )
    assert count == 1
    (workdir.path / "tests" / "emitted.tftest.hcl").write_text(emitted)
    try:
        proc = await asyncio.to_thread(
            workdir.run,
            "test",
            "-no-color",
            "-filter=tests/emitted.tftest.hcl",
            ok=(0, 1),
            timeout=600,
        )
    finally:
        (workdir.path / "tests" / "emitted.tftest.hcl").unlink()
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert 'run "application_alarms_and_dashboard"... pass' in proc.stdout
