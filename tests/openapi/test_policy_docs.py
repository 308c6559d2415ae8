"""The edge policies in the documents: security, 401/403/429 and cache headers in OpenAPI 3 and
Swagger 2; the Lambda authorizer and cache keys in the API Gateway document; the authorizer
itself, run on an API Gateway REQUEST event with real tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from colonnade.descriptors import descriptor_set
from colonnade.gateway.authorizer import _routes, authorize
from colonnade.gateway.openapi import aws_import_problems, generate
from colonnade.runtime.auth import AuthSettings, TokenVerifier
from tests.authkit import AUDIENCE, ISSUER, AuthKit

CREATE = ("/v1/products", "post")
GET = ("/v1/products/{product}", "get")
GET_ORDER = ("/v1/orders/{order}", "get")


def op(doc: dict[str, Any], where: tuple[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"][where[0]][where[1]]
    return result


def test_openapi3_shows_security_errors_and_cache_headers() -> None:
    doc = generate([descriptor_set()], "openapi3")
    validate(doc)
    create, get = op(doc, CREATE), op(doc, GET)
    assert create["security"] == [{"bearerAuth": []}, {"apiKey": []}]
    assert get["security"] == [{}]
    assert "Requires scope `catalog.products.write`" in create["description"]
    assert create["x-colonnade-policy"]["rateLimitClass"] == "write"
    assert "WWW-Authenticate" in create["responses"]["401"]["headers"]
    assert "WWW-Authenticate" in create["responses"]["403"]["headers"]
    assert {"Retry-After", "RateLimit-Remaining"} <= set(create["responses"]["429"]["headers"])
    assert "401" not in get["responses"] and "429" in get["responses"]
    assert {"ETag", "Cache-Control"} <= set(get["responses"]["200"]["headers"])
    assert "304" in get["responses"]
    assert "If-None-Match" in [p["name"] for p in get["parameters"]]
    assert "304" not in create["responses"]


def test_swagger2_shows_them_too() -> None:
    doc = generate([descriptor_set()], "swagger2")
    validate(doc)
    create = doc["paths"]["/v1/products"]["post"]
    assert create["security"] == [{"bearerAuth": []}, {"apiKey": []}]
    assert {"401", "403", "429"} <= set(create["responses"])
    get = doc["paths"]["/v1/products/{product}"]["get"]
    assert get["security"] == [] and "ETag" in get["responses"]["200"]["headers"]


def test_api_gateway_document_has_authorizer_and_cache_keys() -> None:
    doc = generate([descriptor_set()], "aws")
    assert aws_import_problems(doc) == []
    scheme = doc["components"]["securitySchemes"]["colonnade_jwt"]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    assert scheme["x-amazon-apigateway-authorizer"]["type"] == "request"
    assert scheme["x-amazon-apigateway-authorizer"]["identitySource"] == (
        "method.request.header.Authorization"
    )
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            policy = operation["x-colonnade-policy"]
            needs = operation["security"][0]
            assert ("colonnade_jwt" in needs) is (not policy["public"]), (path, method)
            integration = operation["x-amazon-apigateway-integration"]
            if policy["cacheTtlSeconds"]:
                keys = integration["cacheKeyParameters"]
                for p in operation["parameters"]:
                    if p["in"] in ("path", "query"):
                        where = "querystring" if p["in"] == "query" else "path"
                        assert f"method.request.{where}.{p['name']}" in keys
                caller = "method.request.header.Authorization" in keys
                assert caller is policy["cacheVariesByCaller"], path
            else:
                assert "cacheKeyParameters" not in integration
    keys = op(doc, GET_ORDER)["x-amazon-apigateway-integration"]["cacheKeyParameters"]
    assert keys == ["method.request.path.order", "method.request.header.Authorization"]


@pytest.fixture(scope="module")
def routes() -> Any:
    return _routes()


def event(token: str | None, method: str = "GET", path: str = "/v1/products") -> dict[str, Any]:
    arn = f"arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/{method}{path}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"type": "REQUEST", "methodArn": arn, "headers": headers}


def test_the_lambda_authorizer_allows_what_the_scopes_cover(tmp_path: Path, routes: Any) -> None:
    kit = AuthKit(tmp_path / "auth")
    verifier = TokenVerifier(AuthSettings(jwks=str(kit.jwks), issuer=ISSUER, audience=AUDIENCE))
    verifier.start()
    loop = asyncio.new_event_loop()
    try:
        token = kit.token("alice", "catalog.products.write")
        answer = authorize(event(token, "POST"), verifier, routes, loop)
        assert answer["principalId"] == "alice"
        assert answer["context"]["scopes"] == "catalog.products.write"
        statement = answer["policyDocument"]["Statement"][0]
        assert statement["Effect"] == "Allow"
        base = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod"
        assert f"{base}/POST/v1/products" in statement["Resource"]
        assert f"{base}/PATCH/v1/products/*" in statement["Resource"]
        assert f"{base}/GET/v1/products/*" in statement["Resource"]  # public
        assert f"{base}/POST/v1/orders" not in statement["Resource"]
        for bad in (None, "not-a-jwt", kit.token("alice", "x", ttl=-300)):
            with pytest.raises(Exception, match="Unauthorized"):
                authorize(event(bad), verifier, routes, loop)
    finally:
        loop.close()
