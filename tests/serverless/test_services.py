"""Catalog and orders over REST a second time, through the Lambda handler, against the real
PostgreSQL and memcached of the session: the answers equal the gateway's (in front of the
same services over gRPC), and the execution environment keeps its connections between
warm invocations.

The handler runs as on Lambda: `handler(event, context)` called synchronously (here from one
worker thread), driving its own event loop made at the first event and reused after.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from colonnade.serverless.function import Function
from tests.emfcheck import emf_problems
from tests.serverless.apigw import LambdaContext, http_event, rest_event
from tests.serverless.parity import Answer, Case, assert_same, via_gateway, via_lambda

pytestmark = [
    pytest.mark.integration,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(90),
]

Invoke = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Lambda:
    """The function in its execution environment: one thread, its own event loop."""

    def __init__(self, env: dict[str, str]) -> None:
        self.function = Function(env)
        self.executor = ThreadPoolExecutor(max_workers=1)
        self.names = (env["CATALOG_SERVICE_NAME"], env["ORDERS_SERVICE_NAME"])

    async def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.function, event, LambdaContext())

    async def run(self, coro: Any) -> Any:
        """Runs `coro` on the function's own event loop (where its pools live)."""
        loop = asyncio.get_running_loop()
        fn_loop = self.function.event_loop()
        return await loop.run_in_executor(self.executor, fn_loop.run_until_complete, coro)

    async def reset(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self.executor, self.function.reset)


@pytest.fixture(scope="module")
def lambda_env(database_url: str, memcached: Any) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "DATABASE_URL": database_url,
        "CACHE_URL": memcached.url,
        "LOG_ACCESS": "false",
        "DB_CONNECT_TIMEOUT": "2",
        "DB_POOL_MIN": "1",
        "DB_POOL_MAX": "2",
        # as behind RDS Proxy: no prepared-statement cache (BUILD.md)
        "DB_STATEMENT_CACHE_SIZE": "0",
        "CATALOG_SERVICE_NAME": f"lambda-catalog-{suffix}",
        "ORDERS_SERVICE_NAME": f"lambda-orders-{suffix}",
        # as the gateway the REST tests compare with: no edge policies
        "COLONNADE_GATEWAY_POLICIES": "false",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def function(lambda_env: dict[str, str]) -> AsyncIterator[Lambda]:
    fn = Lambda(lambda_env)
    yield fn
    await fn.reset()
    fn.function.event_loop().close()
    fn.executor.shutdown()


@pytest.fixture
def invoke(function: Lambda) -> Iterator[Invoke]:
    yield function.invoke


def _product(unique: str, stock: int = 3) -> dict[str, object]:
    return {
        "sku": f"SKU-{unique}",
        "title": f"Lamp {unique}",
        "category": f"cat-{unique}",
        "price": {"currencyCode": "EUR", "units": "12", "nanos": 500000000},
        "stock": str(stock),
    }


Send = Callable[[Case], Awaitable[Answer]]
_VOLATILE = {"createTime", "updateTime", "etag", "expireTime"}


def _normal(value: Any, unique: str) -> Any:
    """An answer with the run's unique suffix, timestamps, etags and ids made neutral."""
    if isinstance(value, dict):
        return {k: "<volatile>" if k in _VOLATILE else _normal(v, unique) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v, unique) for v in value]
    if isinstance(value, str):
        value = value.replace(unique, "<u>")
        return re.sub(r"orders/[0-9a-zA-Z-]+", "orders/<id>", value)
    return value


async def _catalog_scenario(send: Send, u: str) -> list[Any]:
    out: list[Answer] = []
    out.append(await send(Case("POST", f"/v1/products?productId=p-{u}", json_body=_product(u))))
    created = out[-1].body
    out.append(await send(Case("GET", f"/v1/products/p-{u}")))
    out.append(
        await send(Case("GET", f"/v1/products?filter=category%20%3D%20%22cat-{u}%22&pageSize=10"))
    )
    patch = {"title": "Renamed", "price": {"units": "20"}, "etag": created["etag"]}
    out.append(await send(Case("PATCH", f"/v1/products/p-{u}", json_body=patch)))
    out.append(await send(Case("DELETE", f"/v1/products/p-{u}?etag={out[-1].body['etag']}")))
    out.append(await send(Case("GET", f"/v1/products/p-{u}")))
    out.append(await send(Case("POST", "/v1/products", json_body={"title": "no sku"})))
    out.append(await send(Case("POST", f"/v1/products?productId=d-{u}", json_body=_product(u))))
    out.append(await send(Case("POST", "/v1/products", json_body=_product(u))))
    out.append(
        await send(Case("PATCH", f"/v1/products/d-{u}?updateMask=bogus", json_body={"title": "x"}))
    )
    out.append(await send(Case("GET", "/v1/products?pageSize=-1")))
    out.append(await send(Case("GET", "/v1/products/x", headers=[("grpc-timeout", "bad")])))
    out.append(await send(Case("GET", "/v2/products/d-" + u)))
    out.append(await send(Case("GET", "/readyz")))
    return [(a.status, _normal(a.headers, u), _normal(a.body, u)) for a in out]


async def _orders_scenario(send: Send, u: str) -> list[Any]:
    out: list[Answer] = []
    out.append(await send(Case("POST", f"/v1/products?productId=o-{u}", json_body=_product(u, 5))))
    order = {
        "currencyCode": "EUR",
        "lineItems": [{"product": f"products/o-{u}", "quantity": "2"}],
    }
    out.append(await send(Case("POST", "/v1/orders", json_body={**order})))
    name = out[-1].body["name"]
    out.append(await send(Case("GET", f"/v1/{name}")))
    out.append(await send(Case("GET", f"/v1/products/o-{u}")))  # the stock the order took
    out.append(await send(Case("POST", f"/v1/{name}:cancel", json_body={})))
    too_many = {**order, "lineItems": [{"product": f"products/o-{u}", "quantity": "99"}]}
    out.append(await send(Case("POST", "/v1/orders", json_body=too_many)))
    out.append(await send(Case("GET", f"/v1/{name}:watch")))  # a stream: see the test
    return [(a.status, _normal(a.headers, u), _normal(a.body, u)) for a in out]


async def test_catalog_through_the_handler_answers_as_the_gateway(
    gateway_port: int, invoke: Invoke
) -> None:
    u_gw, u_fn = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    expected = await _catalog_scenario(lambda c: via_gateway(gateway_port, c), u_gw)
    assert [a[0] for a in expected] == [
        201,
        200,
        200,
        200,
        204,
        404,
        400,
        201,
        409,
        400,
        400,
        400,
        200,
        200,
    ]
    for shape in ("rest", "http"):
        send = functools.partial(via_lambda, invoke, shape=shape)
        got = await _catalog_scenario(send, u_fn + shape)
        assert len(got) == len(expected)
        for step, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert g == e, f"{shape} event, step {step}"


async def test_a_read_is_byte_for_byte_the_gateways(
    gateway_port: int, invoke: Invoke, unique: str
) -> None:
    created = await via_gateway(
        gateway_port, Case("POST", f"/v1/products?productId=r-{unique}", json_body=_product(unique))
    )
    assert created.status == 201
    for target in (
        f"/v1/products/r-{unique}",
        f"/v1/products?filter=category%20%3D%20%22cat-{unique}%22&pageSize=5",
        f"/v2/products/r-{unique}",
    ):
        answer = await assert_same(gateway_port, invoke, Case("GET", target))
        assert answer.status == 200 and unique in str(answer.body)


async def test_orders_through_the_handler_call_the_catalog_in_process(
    gateway_port: int, invoke: Invoke
) -> None:
    u_gw, u_fn = uuid.uuid4().hex[:10], uuid.uuid4().hex[:10]
    expected = await _orders_scenario(lambda c: via_gateway(gateway_port, c), u_gw)
    assert [a[0] for a in expected][:6] == [201, 201, 200, 200, 200, 400], expected
    assert expected[3][2]["stock"] == "3"  # the catalog was called: 2 of 5 reserved
    got = await _orders_scenario(lambda c: via_lambda(invoke, c, "http"), u_fn)
    # Everything but the stream is the same; the stream is a 501 with its reason in Lambda.
    assert got[:-1] == expected[:-1]
    assert expected[-1][0] == 200 and got[-1][0] == 501


async def _connections(database_url: str, application: str) -> set[int]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", application
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


async def test_warm_invocations_reuse_the_pool_and_a_cold_start_reconnects(
    function: Lambda, database_url: str, unique: str
) -> None:
    catalog_app = function.names[0]
    create = http_event(
        "POST",
        f"/v1/products?productId=w-{unique}",
        [("content-type", "application/json")],
        b'{"sku": "W-%s", "title": "w", "price": {"currencyCode": "EUR", "units": "1"}}'
        % unique.encode(),
    )
    assert (await function.invoke(create))["statusCode"] == 201
    first = await _connections(database_url, catalog_app)
    assert first, "the catalog's pool holds connections after the first event"
    loop = function.function.loop
    for _ in range(5):
        # a product list reads the database every time (lists are not cached)
        result = await function.invoke(rest_event("GET", "/v1/products?pageSize=2"))
        assert result["statusCode"] == 200
    assert await _connections(database_url, catalog_app) == first  # same backends: no reconnect
    assert function.function.loop is loop  # one event loop per execution environment
    # DB_STATEMENT_CACHE_SIZE=0 (RDS Proxy): no named prepared statement is left in the
    # session to pin it, after every query the catalog ran
    pool = function.function.pools["catalog"]
    named = await function.run(pool.fetch("SELECT name FROM pg_prepared_statements"))
    assert named == []

    await function.reset()  # as SHUTDOWN or a SnapStart restore: connections dropped
    for _ in range(50):
        if not await _connections(database_url, catalog_app):
            break
        await asyncio.sleep(0.05)
    assert not await _connections(database_url, catalog_app)

    result = await function.invoke(rest_event("GET", f"/v1/products/w-{unique}"))
    assert result["statusCode"] == 200, result
    again = await _connections(database_url, catalog_app)
    assert again and not again & first  # new connections


async def test_a_schedule_event_runs_the_periodic_work_once(function: Lambda) -> None:
    """EventBridge schedules stand in for the containers' timers (a frozen environment runs
    none): the catalog's expiry sweep and orders' recovery pass, with what each did."""
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    result = await function.invoke(event)
    done = result["maintenance"]
    assert set(done) == {"catalog_expired", "orders_recovered"}
    assert all(isinstance(n, int) and n >= 0 for n in done.values())


def _emf_lines(text: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]
    for doc in docs:
        assert emf_problems(doc) == [], doc
    return docs


async def test_emf_metrics_are_written_at_the_end_of_every_invocation(
    lambda_env: dict[str, str], function: Lambda, capsys: pytest.CaptureFixture[str]
) -> None:
    """A frozen environment runs no timer and may be shut down without another event: with
    EMF on, each invocation ends with the lines of what it changed (deltas, valid EMF)."""
    fn = Lambda({**lambda_env, "METRICS_EMF_INTERVAL": "60"})
    try:
        capsys.readouterr()
        calls = []
        for _ in range(2):
            result = await fn.invoke(rest_event("GET", "/v1/products?pageSize=1"))
            assert result["statusCode"] == 200, result
            calls.append(_emf_lines(capsys.readouterr().out))
        for docs in calls:
            rpc = [d for d in docs if d.get("Method") == "ListProducts"]
            assert [d["rpc_server_requests"] for d in rpc if "rpc_server_requests" in d] == [1], (
                docs
            )
            routes = [d for d in docs if "Route" in d]
            assert routes and all(d["Service"] == "gateway" for d in routes), docs
    finally:
        await fn.reset()
        fn.function.event_loop().close()
        fn.executor.shutdown()
    # EMF off (the module's function): nothing written
    capsys.readouterr()
    await function.invoke(rest_event("GET", "/v1/products?pageSize=1"))
    assert _emf_lines(capsys.readouterr().out) == []
