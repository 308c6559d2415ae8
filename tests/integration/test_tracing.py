"""One order placed through the gateway is one trace across three real processes.

The gateway, orders and catalog run as the console scripts run them (`python -m …`), each
writing its spans to a file of its own (`TRACE_EXPORTERS=file:…`) and its JSON logs to
stdout. One `POST /v1/orders` with a sampled `traceparent` must give one trace whose spans
nest as gateway → orders server → (catalog client → catalog server → SQL / memcached) and
orders SQL, and the access log of every process must carry that trace id.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
from colonnade_tools.devstack.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.log_path.read_text().splitlines():
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out


@pytest.fixture
def stack(database_url: str, memcached: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    base = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": memcached.url,
        "GRPC_HOST": "127.0.0.1",
        "LOG_ACCESS": "true",
        "TRACE_SAMPLE_RATIO": "1",
    }
    catalog_port, orders_port, gateway_port = free_port(), free_port(), free_port()
    spans = {name: tmp_path / f"{name}.spans.jsonl" for name in ("gateway", "orders", "catalog")}
    procs: dict[str, Process] = {}
    try:
        procs["catalog"] = Process(
            "catalog",
            [sys.executable, "-m", "colonnade.catalog"],
            {
                **base,
                "SERVICE_NAME": "catalog",
                "GRPC_PORT": str(catalog_port),
                "TRACE_EXPORTERS": f"file:{spans['catalog']}",
            },
            tmp_path,
        )
        wait_healthy(lambda: check_grpc(f"127.0.0.1:{catalog_port}", timeout=1), 60)
        procs["orders"] = Process(
            "orders",
            [sys.executable, "-m", "colonnade.orders"],
            {
                **base,
                "SERVICE_NAME": "orders",
                "GRPC_PORT": str(orders_port),
                "CATALOG_TARGET": f"127.0.0.1:{catalog_port}",
                "TRACE_EXPORTERS": f"file:{spans['orders']}",
            },
            tmp_path,
        )
        wait_healthy(lambda: check_grpc(f"127.0.0.1:{orders_port}", timeout=1), 60)
        procs["gateway"] = Process(
            "gateway",
            [
                sys.executable,
                "-m",
                "colonnade.gateway",
                "--backend",
                f"colonnade.catalog.v1.CatalogService=127.0.0.1:{catalog_port}",
                "--backend",
                f"colonnade.catalog.v2.CatalogService=127.0.0.1:{catalog_port}",
                "--no-policies",  # the trace is the subject here, not the credentials
                "--backend",
                f"colonnade.orders.v1.OrdersService=127.0.0.1:{orders_port}",
                "--port",
                str(gateway_port),
                "--access-log",
            ],
            {**base, "COLONNADE_GATEWAY_TRACE_EXPORTERS": f"file:{spans['gateway']}"},
            tmp_path,
        )
        readyz = f"http://127.0.0.1:{gateway_port}/readyz"
        wait_healthy(lambda: check_http(readyz, timeout=1), 60)
        yield {"base": f"http://127.0.0.1:{gateway_port}", "spans": spans, "procs": procs}
    finally:
        for proc in reversed(list(procs.values())):
            proc.stop()


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    req.add_header("content-type", "application/json")
    for k, v in headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req, timeout=10) as r:
        return int(r.status), json.loads(r.read())


def read_spans(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_an_order_is_one_trace_across_gateway_orders_and_catalog(
    stack: dict[str, Any], unique: str
) -> None:
    base = stack["base"]
    status, _ = post(
        f"{base}/v1/products?productId=t-{unique}",
        {
            "sku": f"T-{unique}",
            "title": "Traced",
            "price": {"currencyCode": "EUR", "units": "5"},
            "stock": "4",
        },
        {},
    )
    assert status == 201
    status, order = post(
        f"{base}/v1/orders",
        {
            "currencyCode": "EUR",
            "lineItems": [{"product": f"products/t-{unique}", "quantity": "2"}],
        },
        {"traceparent": f"00-{TRACE}-{CALLER_SPAN}-01"},
    )
    assert status == 201 and order["state"] == "CONFIRMED"

    # Spans are written as each ends (file exporter, simple processor); give the last a moment.
    deadline = time.monotonic() + 5
    while True:
        spans = {
            name: [s for s in read_spans(path) if s["trace_id"] == TRACE]
            for name, path in stack["spans"].items()
        }
        if all(spans.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    every = [s for group in spans.values() for s in group]
    by_id = {s["span_id"]: s for s in every}
    assert len(by_id) == len(every), "span ids are unique"

    # The gateway's span is the root of this trace here, under the caller's span.
    (gateway,) = spans["gateway"]
    assert gateway["kind"] == "SERVER" and gateway["name"] == "POST /v1/orders"
    assert gateway["parent_id"] == CALLER_SPAN
    assert gateway["attributes"]["http.response.status_code"] == 201

    orders_server = [s for s in spans["orders"] if s["kind"] == "SERVER"]
    assert [s["name"] for s in orders_server] == ["colonnade.orders.v1.OrdersService/CreateOrder"]
    assert orders_server[0]["parent_id"] == gateway["span_id"]
    orders_id = orders_server[0]["span_id"]

    clients = [
        s for s in spans["orders"] if s["kind"] == "CLIENT" and s["attributes"].get("rpc.system")
    ]
    client_methods = sorted(s["attributes"]["rpc.method"] for s in clients)
    assert {"GetProduct", "ReserveStock", "CommitReservation"} <= set(client_methods)
    assert all(s["parent_id"] == orders_id for s in clients)
    orders_sql = [s for s in spans["orders"] if s["attributes"].get("db.system") == "postgresql"]
    assert orders_sql and all(s["parent_id"] == orders_id for s in orders_sql)

    catalog_servers = [s for s in spans["catalog"] if s["kind"] == "SERVER"]
    # Each catalog call's server span is the child of exactly one orders client span.
    assert sorted(by_id[s["parent_id"]]["attributes"]["rpc.method"] for s in catalog_servers) == (
        client_methods
    )
    for server in catalog_servers:
        assert by_id[server["parent_id"]]["kind"] == "CLIENT"
        assert server["name"].endswith("/" + by_id[server["parent_id"]]["attributes"]["rpc.method"])
    server_ids = {s["span_id"] for s in catalog_servers}
    catalog_sql = [s for s in spans["catalog"] if s["attributes"].get("db.system") == "postgresql"]
    cache = [s for s in spans["catalog"] if s["attributes"].get("db.system") == "memcached"]
    assert catalog_sql and all(s["parent_id"] in server_ids for s in catalog_sql)
    assert cache and all(s["parent_id"] in server_ids for s in cache)
    assert any(s["name"] == "memcached get" for s in cache)
    # Every span of the trace hangs off the caller's span through its parents.
    for span in every:
        hops = 0
        while span["parent_id"] != CALLER_SPAN:
            span = by_id[span["parent_id"]]
            hops += 1
            assert hops < 10

    # The same trace id in each process's access log.
    for name in ("gateway", "orders", "catalog"):
        proc = stack["procs"][name]
        access = [
            line
            for line in proc.lines()
            if line.get("logger") == "colonnade.access" and line.get("trace_id") == TRACE
        ]
        assert access, f"{name}'s access log has no line with the trace id"
    gateway_lines = [
        line
        for line in stack["procs"]["gateway"].lines()
        if line.get("logger") == "colonnade.access" and line.get("trace_id") == TRACE
    ]
    assert [(g["method"], g["route"], g["status"]) for g in gateway_lines] == [
        ("POST", "/v1/orders", 201)
    ]


def test_an_unsampled_request_still_carries_one_trace_id_to_every_log(
    stack: dict[str, Any], unique: str
) -> None:
    trace = "0af7651916cd43dd8448eb211c80319c"
    post(
        f"{stack['base']}/v1/products?productId=u-{unique}",
        {"sku": f"U-{unique}", "title": "Untraced", "price": {"currencyCode": "EUR", "units": "1"}},
        {"traceparent": f"00-{trace}-b7ad6b7169203331-00"},
    )
    time.sleep(0.3)
    for name, path in stack["spans"].items():
        assert not [s for s in read_spans(path) if s["trace_id"] == trace], name
    for name in ("gateway", "catalog"):
        lines = [ln for ln in stack["procs"][name].lines() if ln.get("trace_id") == trace]
        assert any(ln.get("logger") == "colonnade.access" for ln in lines), name


async def test_in_process_spans_follow_the_callers_flag_and_the_ratio(
    start_catalog: Any, unique: str
) -> None:
    """The in-memory exporter: a sampled caller gets a server span (its child) with the
    memcached and SQL spans under it; an unsampled caller, or ratio 0 without a caller, none."""
    import grpc

    from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
    from tests.integration.helpers import new_product

    server, target = await start_catalog(trace_exporters="memory", trace_sample_ratio="0")
    memory = server.observability.tracing.memory
    assert memory is not None
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"m-{unique}")
        )
        assert memory.get_finished_spans() == ()  # no traceparent and ratio 0: not sampled
        get = catalog_pb2.GetProductRequest(name=created.name)
        await stub.GetProduct(get, metadata=(("traceparent", f"00-{TRACE}-{CALLER_SPAN}-00"),))
        assert memory.get_finished_spans() == ()  # the caller did not sample it
        await stub.GetProduct(get, metadata=(("traceparent", f"00-{TRACE}-{CALLER_SPAN}-01"),))
    spans = memory.get_finished_spans()
    (server_span,) = [s for s in spans if s.kind.name == "SERVER"]
    assert server_span.name == "colonnade.catalog.v1.CatalogService/GetProduct"
    assert f"{server_span.context.trace_id:032x}" == TRACE
    assert server_span.parent is not None and f"{server_span.parent.span_id:016x}" == CALLER_SPAN
    assert server_span.attributes["rpc.grpc.status_code"] == "OK"
    children = [s for s in spans if s is not server_span]
    assert children and all(s.parent.span_id == server_span.context.span_id for s in children)
    assert {s.attributes["db.system"] for s in children} <= {"memcached", "postgresql"}
    assert any(s.name == "memcached get" for s in children)
