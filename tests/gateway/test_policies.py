"""The gateway's edge policies end to end: real catalog and orders services enforcing their
own policies, real tokens and API keys, real memcached shared by two gateway replicas."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from colonnade.gateway.app import Gateway
from colonnade.gateway.throttle import FixedWindowLimiter, Throttle
from colonnade.runtime.auth import SigningKey
from colonnade.runtime.server import ServiceServer
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from tests.authkit import AUDIENCE, ISSUER, AuthKit
from tests.conftest import StartCatalog, make_settings, serving_gateway
from tests.gateway.httpclient import Response, request

pytestmark = pytest.mark.integration
WRITE = "catalog.products.write"


@pytest.fixture
def grpc_client() -> str:
    return "native"


@pytest.fixture
def kit(tmp_path: Path) -> AuthKit:
    return AuthKit(tmp_path / "auth")


@pytest.fixture
async def backends(
    start_catalog: StartCatalog, database_url: str, kit: AuthKit
) -> AsyncIterator[tuple[str, str]]:
    """Catalog and orders enforcing their policies (orders with its own identity)."""
    from colonnade.orders.app import OrdersSettings, create_server

    _, catalog = await start_catalog(**kit.service_env())
    env = kit.service_env("orders", "catalog.reservations.write")
    runtime = make_settings(database_url, "none", service_name="orders", **env)
    server: ServiceServer
    server, port = await create_server(OrdersSettings(runtime, catalog))
    await server.start()
    yield catalog, f"127.0.0.1:{port}"
    await server.stop(grace=0)


GatewayFactory = Callable[..., Any]


@pytest.fixture
def gateway(backends: tuple[str, str], kit: AuthKit) -> GatewayFactory:
    """`async with gateway(**config) as (port, app)`: a gateway with the kit's credentials."""

    def start(**overrides: Any) -> Any:
        catalog, orders = backends
        return serving_gateway(catalog, orders, **{**kit.gateway_config(), **overrides})

    return start


def product(unique: str, stock: int = 3) -> dict[str, Any]:
    return {
        "sku": f"SKU-{unique}",
        "title": f"Thing {unique}",
        "price": {"currencyCode": "EUR", "units": "12"},
        "stock": str(stock),
    }


def status_of(r: Response) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"code", "message", "details"}, body
    return body


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_tokens(kit: AuthKit) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "eve", "scope": WRITE, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600}
    key = kit.user_key

    def sign(signing: SigningKey = key, kid: str = key.kid, **extra: Any) -> str:
        return jwt.encode(
            {**claims, **extra}, signing.private_pem, algorithm="ES256", headers={"kid": kid}
        )

    header, payload, signature = sign().split(".")
    tampered = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered["sub"] = "admin"
    none_header = b64(json.dumps({"alg": "none", "kid": key.kid}).encode())
    return {
        "expired": sign(exp=now - 3600),
        "not yet valid": sign(nbf=now + 3600),
        "wrong issuer": sign(iss="https://elsewhere.test"),
        "wrong audience": sign(aud="another-api"),
        "bad signature": sign(signing=SigningKey.generate(), kid=key.kid),
        "alg none": f"{none_header}.{payload}.",
        "unknown kid": sign(signing=SigningKey.generate(), kid="nobody-1"),
        "tampered payload": f"{header}.{b64(json.dumps(tampered).encode())}.{signature}",
        "HS/ES confusion": jwt.encode(
            claims, "x" * 32, algorithm="HS256", headers={"kid": key.kid}
        ),
    }


async def test_authentication_and_scopes_at_the_gateway(
    gateway: GatewayFactory, kit: AuthKit, unique: str
) -> None:
    async with gateway() as (port, _app):
        target = f"/v1/products?productId=p-{unique}"
        # No credentials on a method that needs them: 401, challenge, Status body.
        r = await request(port, "POST", target, json_body=product(unique))
        assert r.status == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="colonnade"'
        assert status_of(r)["code"] == 16
        # Every broken token: 401 naming the problem, and the backend never called.
        for case, token in bad_tokens(kit).items():
            r = await request(
                port,
                "POST",
                target,
                json_body=product(unique),
                headers={"authorization": f"Bearer {token}"},
            )
            assert r.status == 401, (case, r.body)
            assert 'error="invalid_token"' in r.headers["www-authenticate"], case
            assert status_of(r)["details"][0]["reason"] == "INVALID_CREDENTIALS"
        assert (await request(port, "GET", f"/v1/products/p-{unique}")).status == 404
        # Valid token, not the scope: 403 naming the missing scope.
        r = await request(
            port,
            "POST",
            target,
            json_body=product(unique),
            headers=kit.bearer("bob", "orders.read"),
        )
        assert r.status == 403
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
        detail = status_of(r)["details"][0]
        assert detail["reason"] == "INSUFFICIENT_SCOPE" and detail["metadata"]["missing"] == WRITE
        # Client-sent principal metadata changes nothing (stripped before the call).
        forged = {
            **kit.bearer("bob", "orders.read"),
            "grpc-metadata-x-colonnade-principal": "admin",
            "grpc-metadata-x-colonnade-scopes": WRITE,
        }
        r = await request(port, "POST", target, json_body=product(unique), headers=forged)
        assert r.status == 403
        # The right scope: created, through the gateway's delegated identity.
        r = await request(
            port, "POST", target, json_body=product(unique), headers=kit.bearer("alice", WRITE)
        )
        assert r.status == 201, r.body
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["strict-transport-security"].startswith("max-age=")
        # Public reads need nothing.
        assert (await request(port, "GET", f"/v1/products/p-{unique}")).status == 200


async def test_api_keys_carry_their_scopes(
    gateway: GatewayFactory, kit: AuthKit, unique: str
) -> None:
    async with gateway() as (port, _app):
        r = await request(
            port,
            "POST",
            f"/v1/products?productId=k-{unique}",
            json_body=product(unique, stock=5),
            headers=kit.bearer("alice", WRITE),
        )
        assert r.status == 201
        order = {
            "currencyCode": "EUR",
            "lineItems": [{"product": f"products/k-{unique}", "quantity": "1"}],
        }
        shop = {"x-api-key": kit.api_keys["shop"]}
        reader = {"x-api-key": kit.api_keys["reader"]}
        r = await request(port, "POST", "/v1/orders", json_body=order, headers=shop)
        assert r.status == 201, r.body
        name = r.json()["name"]
        r = await request(port, "POST", "/v1/orders", json_body=order, headers=reader)
        assert r.status == 403
        assert (await request(port, "GET", f"/v1/{name}", headers=reader)).status == 200
        r = await request(port, "GET", f"/v1/{name}", headers={"x-api-key": "cnk_unknown"})
        assert r.status == 401 and status_of(r)["message"] == "unknown API key"
        assert (await request(port, "GET", f"/v1/{name}")).status == 401


def limiter(app: Gateway) -> FixedWindowLimiter:
    assert app.edge is not None
    step = next(s for s in app.edge.steps if isinstance(s, Throttle))
    return step.limiter


async def test_two_replicas_share_the_limit_through_memcached(
    gateway: GatewayFactory, memcached: MemcachedServer, kit: AuthKit, unique: str
) -> None:
    limits = ["read=1000/20", "write=10/200", "standard=20/600", "internal=100/3000"]
    config = {"policy_cache_url": memcached.url, "rate_limits": limits, "replicas": 2}
    async with gateway(**config) as (a, app_a), gateway(**config) as (b, app_b):
        # Both replicas in one fixed window (a clock that does not cross a minute edge).
        window = time.time()
        limiter(app_a).clock = limiter(app_b).clock = lambda: window
        caller = kit.bearer(f"load-{unique}")
        results = await asyncio.gather(
            *(
                request(port, "GET", f"/v1/products/none-{unique}", headers=caller)
                for port in [a, b] * 30
            )
        )
        admitted = [r for r in results if r.status != 429]
        throttled = [r for r in results if r.status == 429]
        # incr before deciding, atomic in memcached: exactly the limit across both replicas.
        assert len(admitted) == 20 and len(throttled) == 40
        assert {r.status for r in admitted} == {404}
        r = throttled[0]
        assert status_of(r)["code"] == 8
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-remaining"] == "0"
        assert r.headers["ratelimit-limit"] == "20"
        assert r.headers["ratelimit-policy"] == "1000;w=1, 20;w=60"
        assert int(admitted[0].headers["ratelimit-remaining"]) < 20
        # Another caller has its own budget.
        other = await request(port=a, method="GET", target=f"/v1/products/none-{unique}")
        assert other.status == 404


async def test_memcached_down_means_per_replica_limits(
    gateway: GatewayFactory, kit: AuthKit, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"memcached://127.0.0.1:{free_port()}"
    limits = ["read=1000/10", "write=10/200", "standard=20/600", "internal=100/3000"]
    async with gateway(policy_cache_url=dead, rate_limits=limits, replicas=2) as (port, app):
        window = time.time()
        limiter(app).clock = lambda: window
        caller = kit.bearer(f"down-{unique}")
        statuses = [
            (await request(port, "GET", f"/v1/products/none-{unique}", headers=caller)).status
            for _ in range(8)
        ]
    assert statuses == [404] * 5 + [429] * 3  # 10 per minute / 2 replicas, nothing failed
    assert sum("per replica" in m for m in caplog.messages) == 1  # said once


async def test_cached_gets_revalidation_invalidation_and_isolation(
    gateway: GatewayFactory, memcached: MemcachedServer, kit: AuthKit, unique: str
) -> None:
    async with gateway(policy_cache_url=memcached.url) as (port, _app):
        writer = kit.bearer("alice", WRITE)
        r = await request(
            port,
            "POST",
            f"/v1/products?productId=c-{unique}",
            json_body=product(unique),
            headers=writer,
        )
        assert r.status == 201
        path = f"/v1/products/c-{unique}"
        first = await request(port, "GET", path)
        second = await request(port, "GET", path)
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
        assert first.body == second.body and first.headers["etag"] == second.headers["etag"]
        assert second.headers["cache-control"] == "public, max-age=30"
        r = await request(port, "GET", path, headers={"if-none-match": second.headers["etag"]})
        assert r.status == 304 and r.body == b""
        r = await request(port, "GET", path, headers={"cache-control": "no-cache"})
        assert r.headers["x-cache"] == "BYPASS" and r.status == 200
        # A write through the gateway invalidates: the next read sees it.
        r = await request(
            port, "PATCH", path, json_body={"title": f"Renamed {unique}"}, headers=writer
        )
        assert r.status == 200, r.body
        r = await request(port, "GET", path)
        assert r.headers["x-cache"] == "MISS" and r.json()["title"] == f"Renamed {unique}"
        assert r.headers["etag"] != first.headers["etag"]
        # Per-caller answers are keyed by caller: bob never gets alice's entry.
        order = {
            "currencyCode": "EUR",
            "lineItems": [{"product": f"products/c-{unique}", "quantity": "1"}],
        }
        shop = {"x-api-key": kit.api_keys["shop"]}
        r = await request(port, "POST", "/v1/orders", json_body=order, headers=shop)
        assert r.status == 201, r.body
        target = "/v1/" + r.json()["name"]
        alice = kit.bearer("alice", "orders.read")
        bob = kit.bearer("bob", "orders.read")
        assert (await request(port, "GET", target, headers=alice)).headers["x-cache"] == "MISS"
        hit = await request(port, "GET", target, headers=alice)
        assert hit.headers["x-cache"] == "HIT"
        assert hit.headers["cache-control"] == "private, max-age=5"
        assert "Authorization" in hit.headers["vary"]
        assert (await request(port, "GET", target, headers=bob)).headers["x-cache"] == "MISS"


async def test_in_aws_shape_the_gateway_delegates_as_its_app_client(
    start_catalog: StartCatalog, unique: str
) -> None:
    """As the environments run it: Cognito-shaped tokens from a stand-in pool; the gateway
    gets its own token for its client credentials and catalog trusts that client id as the
    delegate; the usage plan's API key (in the key store as a digest) grants no scope."""
    from colonnade.runtime.auth import ApiKeyEntry, hash_api_key, new_api_key
    from colonnade_tools.devstack.issuer import AppClient, Issuer

    pool = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test"
    prefix = "colonnade-test/"
    issuer = Issuer(
        pool,
        {
            # Not the write scope: the create below succeeds only as alice's delegate.
            "gateway-client": AppClient("g-secret", frozenset({prefix + "orders.read"})),
            "web-client": AppClient("", frozenset({prefix + WRITE})),
        },
    )
    url = issuer.start()
    verify = {
        "auth_jwks": f"{url}/eu-west-1_Test/.well-known/jwks.json",
        "auth_issuer": pool,
        "auth_token_use": "access",
        "auth_scope_prefix": prefix,
    }
    key = new_api_key()
    store = {
        "keys": [ApiKeyEntry("web/spa", hash_api_key(key), "apikey:web/spa", (), "web").as_json()]
    }
    try:
        _, catalog = await start_catalog(
            **verify,
            auth_client_ids="gateway-client,web-client",
            auth_trusted_delegates="gateway-client",
        )
        config: dict[str, Any] = {
            **verify,
            "auth_client_ids": ["gateway-client", "web-client"],
            "service_token_url": f"{url}/oauth2/token",
            "service_client_id": "gateway-client",
            "service_client_secret": "g-secret",
            "api_keys": json.dumps(store),
        }
        async with serving_gateway(catalog, **config) as (port, _app):
            target = f"/v1/products?productId=p-{unique}"
            spa = {"x-api-key": key}
            assert (await request(port, "GET", "/v1/products", headers=spa)).status == 200
            r = await request(port, "POST", target, json_body=product(unique), headers=spa)
            assert r.status == 403, r.body
            user = issuer.user_token("web-client", "alice", [prefix + WRITE])
            r = await request(
                port,
                "POST",
                target,
                json_body=product(unique),
                headers={**spa, "authorization": f"Bearer {user}"},
            )
            assert r.status == 201, r.body
            other = Issuer(pool, {}, key=issuer.key).access_token("stranger", [prefix + WRITE])
            r = await request(
                port, "POST", target, headers={"authorization": f"Bearer {other}"}, json_body={}
            )
            assert r.status == 401 and "another client" in r.body.decode()
        assert [c for c, _ in issuer.requests] == ["gateway-client"]
    finally:
        issuer.stop()
