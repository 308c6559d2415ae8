"""The gateway in front of the real catalog service (PostgreSQL + memcached): every method.

Uses the session's catalog fixtures (tests/conftest.py), so it is an integration test.
"""

from __future__ import annotations

import pytest

from tests.gateway.httpclient import request

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def port(gateway_port: int) -> int:
    return gateway_port


def _product(unique: str) -> dict[str, object]:
    return {
        "sku": f"SKU-{unique}",
        "title": f"Lamp {unique}",
        "category": f"cat-{unique}",
        "price": {"currencyCode": "EUR", "units": "12", "nanos": 500000000},
        "stock": "3",
    }


async def test_every_catalog_method_through_rest(port: int, unique: str) -> None:
    r = await request(
        port, "POST", f"/v1/products?productId=p-{unique}", json_body=_product(unique)
    )
    assert r.status == 201, r.body
    created = r.json()
    assert created["name"] == f"products/p-{unique}"
    assert created["stock"] == "3" and created["price"]["units"] == "12"
    assert created["createTime"].endswith("Z") and created["etag"]

    r = await request(port, "GET", f"/v1/products/p-{unique}")
    assert r.status == 200 and r.json() == created

    r = await request(
        port, "GET", f"/v1/products?filter=category%20%3D%20%22cat-{unique}%22&pageSize=10"
    )
    assert r.status == 200, r.body
    assert [p["name"] for p in r.json()["products"]] == [created["name"]]
    assert r.json()["nextPageToken"] == ""

    # PATCH without update_mask: the mask comes from the JSON paths present
    r = await request(
        port,
        "PATCH",
        f"/v1/products/p-{unique}",
        json_body={"title": "Renamed", "price": {"units": "20"}, "etag": created["etag"]},
    )
    assert r.status == 200, r.body
    updated = r.json()
    assert updated["title"] == "Renamed"
    assert updated["price"] == {"currencyCode": "EUR", "units": "20", "nanos": 500000000}
    assert updated["sku"] == created["sku"] and updated["stock"] == "3"

    r = await request(port, "DELETE", f"/v1/products/p-{unique}?etag={updated['etag']}")
    assert r.status == 204 and r.body == b""

    r = await request(port, "GET", f"/v1/products/p-{unique}")
    assert r.status == 404
    body = r.json()
    assert body["code"] == 5
    info = [d for d in body["details"] if d["@type"].endswith("google.rpc.ErrorInfo")]
    assert info and info[0]["reason"] == "RESOURCE_NOT_FOUND"


async def test_catalog_errors_through_rest(port: int, unique: str) -> None:
    r = await request(port, "POST", "/v1/products", json_body={"title": "no sku"})
    assert r.status == 400
    body = r.json()
    assert body["code"] == 3
    bad = [d for d in body["details"] if d["@type"].endswith("google.rpc.BadRequest")]
    assert bad and {v["field"] for v in bad[0]["fieldViolations"]} >= {"product.sku"}

    assert (
        await request(
            port, "POST", f"/v1/products?productId=d-{unique}", json_body=_product(unique)
        )
    ).status == 201
    r = await request(port, "POST", "/v1/products", json_body=_product(unique))
    assert r.status == 409 and r.json()["code"] == 6

    r = await request(
        port, "PATCH", f"/v1/products/d-{unique}?updateMask=bogus", json_body={"title": "x"}
    )
    assert r.status == 400
    assert b"update_mask" in r.body

    r = await request(port, "GET", "/v1/products?pageSize=-1")
    assert r.status == 400

    r = await request(port, "GET", "/v1/products/x", headers={"grpc-timeout": "bad"})
    assert r.status == 400

    r = await request(port, "GET", "/readyz")
    assert r.status == 200, r.body
