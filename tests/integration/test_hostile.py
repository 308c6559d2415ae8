"""Hostile input against the whole stack: the gateway in front of the real catalog and orders
services, PostgreSQL and memcached.

* SQL-injection strings in every string field: stored verbatim and read back equal where the
  field takes free text, refused with a 400 naming the field where it has a syntax; never
  executed (the table and its row count are unchanged afterwards);
* page tokens that are garbage, overlong, modified or forged: 400 naming ``page_token``;
* invalid UTF-8 in path, query and body; deep JSON nesting; huge repeated fields; path
  traversal against the static files (web UI, /docs): all clear 4xx;
* oversized gRPC messages sent straight to the services: RESOURCE_EXHAUSTED, and the service
  keeps serving.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import grpc
import orjson
import pytest

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.pagetokens import fingerprint
from colonnade_tools.devstack.postgres import PostgresServer
from tests.gateway.httpclient import Response, request
from tests.hostile import Tally

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

#: Classic injection payloads (quotes, comments, stacked queries, dollar quoting, LIKE
#: wildcards, sleep, encodings); none may change what the database holds or how long it takes.
INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE products; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5); --",
    "$$; DROP TABLE products; $$",
    "\\'; DELETE FROM products WHERE ''='",
    "%' OR 1=1 --",
    "_%",
    "' UNION SELECT id, sku, title FROM products --",
    "Robert'); DROP TABLE orders;--",
    "'||(SELECT current_user)||'",
    "E'\\x27' OR 1=1",
    "/* comment */ OR 1=1",
    "\u02bc OR 1=1 --",  # a quote look-alike
]


def status_of(r: Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "details"}, body
    return body


def fields_named(r: Response) -> set[str]:
    """The fields a 400's google.rpc.BadRequest names."""
    out: set[str] = set()
    for detail in status_of(r)["details"]:
        for violation in detail.get("fieldViolations", ()):
            out.add(violation["field"])
    return out


async def row_counts(postgres: PostgresServer) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(postgres.url("colonnade_test"))
    try:
        products = await conn.fetchval("SELECT count(*) FROM products")
        orders = await conn.fetchval("SELECT count(*) FROM orders")
    finally:
        await conn.close()
    return int(products), int(orders)


def product(unique: str, **fields: Any) -> dict[str, Any]:
    return {
        "sku": f"SKU-{unique}",
        "title": f"Thing {unique}",
        "price": {"currencyCode": "EUR", "units": "3"},
        "stock": "5",
        **fields,
    }


async def test_injection_strings_are_stored_verbatim_or_refused_never_executed(
    gateway_port: int, postgres: PostgresServer, unique: str
) -> None:
    tally = Tally("sql-injection")
    port = gateway_port
    before = await row_counts(postgres)
    created = 0
    for i, text in enumerate(INJECTIONS):
        pid = f"inj-{i}-{unique}"
        body = product(f"{i}-{unique}", title=text, description=text * 3, category=text[:100])
        r = await request(port, "POST", f"/v1/products?productId={pid}", json_body=body)
        assert r.status == 201, r.body
        tally.add(r.status)
        created += 1
        stored = (await request(port, "GET", f"/v1/products/{pid}")).json()
        assert (stored["title"], stored["description"], stored["category"]) == (
            text,
            text * 3,
            text[:100],
        )
        r = await request(port, "PATCH", f"/v1/products/{pid}", json_body={"description": text})
        assert r.status == 200 and r.json()["description"] == text, r.body
        tally.add(r.status)
        # the v2 surface reads the same row
        r = await request(port, "GET", f"/v2/products/{pid}")
        assert r.status == 200 and r.json()["displayName"] == text, r.body
        # a filter comparing with the text finds exactly that product
        literal = json.dumps(text)
        r = await request(
            port, "GET", "/v1/products?pageSize=5&filter=" + quote(f"category = {literal}")
        )
        if r.status == 200:
            names = [p["name"] for p in r.json()["products"]]
            assert f"products/{pid}" in names and all(n.endswith(unique) for n in names), names
        else:  # a literal the filter grammar does not take (a backslash escape)
            assert r.status == 400 and fields_named(r) == {"filter"}, r.body
        tally.add(r.status)
        # where a field has a syntax, the text is refused naming the field
        for target, payload, field in [
            (f"/v1/products?productId={quote(text)}", product(f"x{i}{unique}"), "product_id"),
            ("/v1/products", product(f"y{i}{unique}", sku=text), "product.sku"),
            (
                "/v1/products",
                {**product(f"z{i}{unique}"), "price": {"currencyCode": text}},
                "product.price.currency_code",
            ),
        ]:
            r = await request(port, "POST", target, json_body=payload)
            assert r.status == 400 and field in fields_named(r), (text, r.body)
            tally.add(r.status)
        for target, field in [
            (f"/v1/products/{quote(text, safe='')}", "name"),
            ("/v1/products?filter=" + quote(text), "filter"),
            ("/v1/products?orderBy=" + quote(text), "order_by"),
            ("/v1/orders?filter=" + quote(text), "filter"),
            (f"/v1/orders/{quote(text, safe='')}", "name"),
        ]:
            r = await request(port, "GET", target)
            assert r.status in (400, 404), (target, r.body)
            if r.status == 400:
                assert field in fields_named(r), (target, r.body)
            tally.add(r.status)
        order = {"currencyCode": "EUR", "lineItems": [{"product": text, "quantity": "1"}]}
        r = await request(port, "POST", "/v1/orders?requestId=" + quote(text), json_body=order)
        assert r.status == 400 and "order.line_items[0].product" in fields_named(r), r.body
        tally.add(r.status)
    after = await row_counts(postgres)
    assert after == (before[0] + created, before[1])  # nothing dropped, deleted or added
    tally.done(allowed=("2",))


async def test_nul_characters_are_refused_naming_the_field(gateway_port: int, unique: str) -> None:
    """PostgreSQL text cannot hold U+0000: a clear 400, not a database error."""
    tally = Tally("nul-characters")
    for field in ("title", "description", "category"):
        body = product(f"n-{field}-{unique}", **{field: "a\u0000b"})
        r = await request(
            gateway_port, "POST", f"/v1/products?productId=n-{field[:4]}-{unique}", json_body=body
        )
        assert r.status == 400 and f"product.{field}" in fields_named(r), r.body
        tally.add(r.status)
    r = await request(gateway_port, "GET", "/v1/products?filter=" + quote('title = "a\u0000"'))
    assert r.status == 400 and "filter" in fields_named(r), r.body
    tally.add(r.status)
    order = {"currencyCode": "EUR", "lineItems": [{"product": "products/a", "quantity": "1"}]}
    r = await request(gateway_port, "POST", "/v1/orders?requestId=a%00b", json_body=order)
    assert r.status == 400 and "request_id" in fields_named(r), r.body
    tally.add(r.status)
    tally.done()


# ------------------------------------------------------------------------------ page tokens


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


async def test_garbage_overlong_modified_and_forged_page_tokens_are_400(
    gateway_port: int, unique: str
) -> None:
    tally = Tally("page-tokens")
    port = gateway_port
    for i in range(3):
        r = await request(
            port,
            "POST",
            f"/v1/products?productId=pt-{i}-{unique}",
            json_body=product(f"pt{i}{unique}", category=f"pt-{unique}"),
        )
        assert r.status == 201, r.body
    query = "filter=" + quote(f'category = "pt-{unique}"') + "&pageSize=1"
    r = await request(port, "GET", f"/v1/products?{query}")
    token = r.json()["nextPageToken"]
    assert token
    assert (await request(port, "GET", f"/v1/products?{query}&pageToken={token}")).status == 200
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    forged = [
        b64(orjson.dumps({"v": 1, "q": "0" * 16, "k": ["x"]})),
        b64(orjson.dumps({"v": 2, "q": fingerprint(), "k": []})),
        b64(
            json.dumps(
                {"v": 1, "q": fingerprint(f'category = "pt-{unique}"', ""), "k": [2**70, "x"]}
            ).encode()
        ),
        b64(
            orjson.dumps(
                {"v": 1, "q": fingerprint(f'category = "pt-{unique}"', ""), "k": ["' OR 1=1 --"]}
            )
        ),
        b64(orjson.dumps([1, 2, 3])),
        b64(b"\xff\xfe not json"),
    ]
    cases = {
        "garbage": "not-a-token",
        "non-base64": "%%%%",
        "invalid UTF-8": "%FF%FE",
        "NUL": "%00",
        "overlong": "A" * 12_000,
        "overlong valid base64": b64(b"x" * 8_000),
        "truncated": token[: len(token) // 2],
        "modified": flipped,
        "another query's": token,
        **{f"forged {i}": t for i, t in enumerate(forged)},
    }
    for name, bad in cases.items():
        for path in ("/v1/products", "/v2/products", "/v1/orders"):
            # the products' own query, except for the token of another query (and orders)
            own = name != "another query's" and path != "/v1/orders"
            target_query = query if own else "pageSize=1"
            r = await request(port, "GET", f"{path}?{target_query}&pageToken={bad}")
            tally.add(r.status)
            assert r.status == 400, (name, path, r.body[:300])
            assert fields_named(r) == {"page_token"}, (name, path, r.body[:300])
    tally.done()


# ------------------------------------------------------------------------------ encodings, sizes


async def test_invalid_utf8_deep_nesting_and_huge_repeated_fields_are_4xx(
    gateway_port: int, unique: str
) -> None:
    tally = Tally("encoding-and-size")
    port = gateway_port
    create = f"/v1/products?productId=u-{unique}"
    raw_bodies = [
        b'{"sku": "S", "title": "\xff\xfe", "price": {"currencyCode": "EUR"}}',  # invalid UTF-8
        b'{"sku": "S", "title": "\\ud800", "price": {"currencyCode": "EUR"}}',  # lone surrogate
        b'{"sku": "S", "title": "\xc3\x28"}',
        b"[" * 100_000 + b"]" * 100_000,  # nesting far beyond any parser's depth
        b'{"title": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001,
        b'{"sku": "S"' + b', "title": "t"' * 50_000 + b"}",  # one key 50,000 times
        b"\x00" * 64,
    ]
    for body in raw_bodies:
        r = await request(
            port, "POST", create, body=body, headers={"content-type": "application/json"}
        )
        assert r.status == 400, (body[:40], r.body[:300])
        status_of(r)
        tally.add(r.status)
    for target in [
        "/v1/products/%FF%FE",
        "/v1/products/%C3%28",
        "/v1/products/%ED%A0%80",
        "/v1/products?filter=%FF",
        "/v1/products?orderBy=%C3%28",
        "/v1/products?pageSize=%FF",
        "/v1/orders?filter=%ED%A0%80",
        "/v2/products?filter=%F4%90%80%80",
    ]:
        r = await request(port, "GET", target)
        assert r.status in (400, 404), (target, r.body[:300])
        status_of(r)
        tally.add(r.status)
    # deep nesting the JSON parser takes, but no message of ours has
    deep: Any = 1
    for _ in range(500):
        deep = {"units": deep}
    r = await request(port, "POST", create, json_body=product(f"u{unique}", price=deep))
    assert r.status == 400, r.body[:300]
    tally.add(r.status)
    # huge repeated fields: line items beyond the limit, and a body beyond max_body_bytes
    items = [{"product": f"products/p{i}", "quantity": "1"} for i in range(20_000)]
    r = await request(
        port, "POST", "/v1/orders", json_body={"currencyCode": "EUR", "lineItems": items}
    )
    assert r.status == 400 and "order.line_items" in fields_named(r), r.body[:300]
    tally.add(r.status)
    items = [{"product": "products/" + "p" * 60, "quantity": "1"}] * 70_000
    r = await request(
        port, "POST", "/v1/orders", json_body={"currencyCode": "EUR", "lineItems": items}
    )
    assert r.status == 413, r.body[:300]
    tally.add(r.status)
    tally.done()


async def test_path_traversal_against_the_static_files(gateway_port: int) -> None:
    tally = Tally("path-traversal")
    for path in [
        "/../../../../etc/passwd",
        "/docs/../../../../etc/passwd",
        "/docs/..%2f..%2f..%2fetc%2fpasswd",
        "/docs/%2e%2e/%2e%2e/etc/passwd",
        "/docs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/docs/....//....//etc/passwd",
        "/docs/..\\..\\etc\\passwd",
        "/docs/%c0%ae%c0%ae/etc/passwd",
        "/docs//etc/passwd",
        "/docs/.%00./etc/passwd",
        "/docs/swagger-ui.css%00.js",
        "/docs/index.html%00",
        "/docs/__init__.py",
        "/docs/.hidden",
        "/app.js/../../etc/passwd",
        "/..%2fsetup.py",
        "/%2e%2e/pyproject.toml",
        "/__init__.py",
        "/index.html/../__init__.py",
        "/./index.html/..",
        "//etc/passwd",
    ]:
        r = await request(gateway_port, "GET", path)
        assert r.status in (400, 404), (path, r.status, r.body[:200])
        assert b"root:" not in r.body and b"[project]" not in r.body
        tally.add(r.status)
    # and the files that are there are served
    assert (await request(gateway_port, "GET", "/docs/swagger-ui.css")).status == 200
    assert (await request(gateway_port, "GET", "/")).status == 200
    tally.done()


# ------------------------------------------------------------------------------ gRPC sizes


async def test_oversized_grpc_messages_are_resource_exhausted_and_the_services_survive(
    catalog_target: str, orders_target: str, unique: str
) -> None:
    tally = Tally("grpc-oversized")
    huge = "x" * (5 * 1024 * 1024)  # above gRPC's 4 MiB default receive limit
    async with grpc.aio.insecure_channel(
        catalog_target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        for request_message, call in [
            (
                catalog_pb2.CreateProductRequest(
                    product=catalog_pb2.Product(sku="S", title="t", description=huge)
                ),
                stub.CreateProduct,
            ),
            (catalog_pb2.ListProductsRequest(filter=huge), stub.ListProducts),
            (catalog_pb2.GetProductRequest(name="products/" + huge), stub.GetProduct),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call(request_message, timeout=20)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value
            tally.add(f"{err.value.code().name}")
        # still serving, on the same channel
        reply = await stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=1), timeout=10)
        assert reply is not None
    async with grpc.aio.insecure_channel(
        orders_target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    ) as channel:
        orders = orders_pb2_grpc.OrdersServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await orders.ListOrders(orders_pb2.ListOrdersRequest(filter=huge), timeout=20)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.value
        tally.add(err.value.code().name)
        await orders.ListOrders(orders_pb2.ListOrdersRequest(page_size=1), timeout=10)
    tally.done(allowed=("RESOURCE_EXHAUSTED",))
