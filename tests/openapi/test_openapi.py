"""The OpenAPI generator: validity, faithfulness to the gateway's mapping, AWS import rules."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from colonnade.gateway.openapi import (
    COMMITTED,
    FORMATS,
    Options,
    aws_import_problems,
    dumps,
    generate,
)
from colonnade.gateway.openapi_cli import main
from colonnade_tools.openapi_docs import committed_documents
from tests.conftest import REPO_ROOT

GOLDEN = Path(__file__).parent / "golden"


def resolve(doc: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    if "allOf" in ref_or_schema:
        ref_or_schema = ref_or_schema["allOf"][0]
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node  # type: ignore[no-any-return]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_variant_validates(
    fmt: str, catalog_set: Path, conformance_descriptors: Path
) -> None:
    for descriptors in (catalog_set, conformance_descriptors):
        validate(generate([descriptors], fmt))  # type: ignore[arg-type]


def test_catalog_paths_methods_and_statuses(catalog_set: Path) -> None:
    doc = generate([catalog_set], "openapi3")
    products = {p: sorted(ops) for p, ops in doc["paths"].items() if p.startswith("/v1/products")}
    assert products == {
        "/v1/products": ["get", "post"],
        "/v1/products/{product}": ["delete", "get", "patch"],
    }
    ops = doc["paths"]["/v1/products/{product}"]
    assert "201" in doc["paths"]["/v1/products"]["post"]["responses"]
    assert "content" not in ops["delete"]["responses"]["204"]
    assert "200" in ops["get"]["responses"]
    for path_item in doc["paths"].values():
        for op in path_item.values():
            status = op["responses"]["default"]["content"]["application/json"]["schema"]
            assert status == {"$ref": "#/components/schemas/google.rpc.Status"}
            assert "400" in op["responses"] and "503" in op["responses"]
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert "CatalogService_CreateProduct" in ids
    tags = {tag["name"]: tag for tag in doc["tags"]}
    assert "resource-oriented" in tags["colonnade.catalog.v1.CatalogService"]["description"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_both_catalog_versions_are_documented(fmt: str, catalog_set: Path) -> None:
    doc = generate([catalog_set], fmt)  # type: ignore[arg-type]
    paths = {p for p in doc["paths"] if "/products" in p or p.startswith("/v2/")}
    v2 = "/v2/{name}" if fmt == "swagger2" else "/v2/products/{product}"  # alone on its template
    assert paths == {"/v1/products", "/v1/products/{product}", "/v2/products", v2}
    ops = [op for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)]
    ids = [op["operationId"] for op in ops if "operationId" in op]
    assert len(ids) == len(set(ids))
    # Two services named CatalogService: tags (which must be unique) use the full names.
    names = [tag["name"] for tag in doc.get("tags", [])]
    if fmt != "aws":
        assert len(names) == len(set(names))
        assert {"colonnade.catalog.v1.CatalogService", "colonnade.catalog.v2.CatalogService"} <= (
            set(names)
        )
    schemas = doc["definitions"] if fmt == "swagger2" else doc["components"]["schemas"]
    flat = {name.lower().replace(".", ""): s for name, s in schemas.items()}
    price = next(s for name, s in flat.items() if name.endswith("v2price"))
    assert price["properties"]["amount"]["type"] == "string"
    assert "`12.50`" in price["properties"]["amount"]["description"]
    product = next(s for name, s in flat.items() if name.endswith("v2product"))
    assert "displayName" in product["properties"] and "title" not in product["properties"]


def test_orders_paths_methods_and_statuses(catalog_set: Path) -> None:
    doc = generate([catalog_set], "openapi3")
    orders = {p: sorted(ops) for p, ops in doc["paths"].items() if p.startswith("/v1/orders")}
    assert orders == {
        "/v1/orders": ["get", "post"],
        "/v1/orders/{order}": ["get"],
        "/v1/orders/{order}:cancel": ["post"],
        "/v1/orders/{order}:ship": ["post"],
        "/v1/orders/{order}:watch": ["get"],
    }
    assert "201" in doc["paths"]["/v1/orders"]["post"]["responses"]
    listing = doc["paths"]["/v1/orders"]["get"]
    query = [p["name"] for p in listing["parameters"] if p["in"] == "query"]
    assert query == ["pageSize", "pageToken", "filter"]
    watch = doc["paths"]["/v1/orders/{order}:watch"]["get"]["responses"]["200"]["content"]
    assert "application/x-ndjson" in watch
    tags = {tag["name"]: tag for tag in doc["tags"]}
    assert "FAILED_PRECONDITION naming the order's current state" in " ".join(
        tags["OrdersService"]["description"].split()
    )
    # Reservations are internal: no HTTP rule, so no REST path.
    assert not [p for p in doc["paths"] if "reserv" in p]


def test_catalog_parameters_match_the_gateway_mapping(catalog_set: Path) -> None:
    doc = generate([catalog_set], "openapi3")
    listing = doc["paths"]["/v1/products"]["get"]
    assert [p["name"] for p in listing["parameters"] if p["in"] == "query"] == [
        "pageSize",
        "pageToken",
        "filter",
        "orderBy",
    ]
    assert all(p["in"] in ("query", "header") for p in listing["parameters"])
    create = doc["paths"]["/v1/products"]["post"]
    assert [(p["name"], p["in"]) for p in create["parameters"]] == [("productId", "query")]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/colonnade.catalog.v1.Product"}
    update = doc["paths"]["/v1/products/{product}"]["patch"]
    assert [(p["name"], p["in"]) for p in update["parameters"]] == [
        ("product", "path"),
        ("updateMask", "query"),
    ]
    # PATCH bodies are partial: the same product without `required`.
    partial = resolve(doc, update["requestBody"]["content"]["application/json"]["schema"])
    assert "required" not in partial and "title" in partial["properties"]


def test_catalog_schemas_are_proto3_json(catalog_set: Path) -> None:
    doc = generate([catalog_set], "openapi3")
    product = doc["components"]["schemas"]["colonnade.catalog.v1.Product"]
    props = product["properties"]
    assert sorted(product["required"]) == ["price", "sku", "title"]
    assert props["stock"]["type"] == "string" and props["stock"]["format"] == "int64"
    assert props["createTime"]["readOnly"] is True
    created = props["createTime"]
    assert (created["type"], created["format"], created["nullable"]) == (
        "string",
        "date-time",
        True,
    )
    assert props["price"]["allOf"] == [{"$ref": "#/components/schemas/google.type.Money"}]
    assert props["price"]["nullable"] is True  # the gateway prints unset messages as null
    assert "unique\nin the catalog" in props["sku"]["description"]  # from the proto comment
    money = doc["components"]["schemas"]["google.type.Money"]["properties"]
    assert money["currencyCode"]["type"] == "string" and money["units"]["type"] == "string"
    status = doc["components"]["schemas"]["google.rpc.Status"]["properties"]
    detail = resolve(doc, status["details"]["items"])
    assert detail["properties"]["@type"] == {"type": "string"}


def test_swagger2_resembles_protoc_gen_openapiv2(catalog_set: Path) -> None:
    doc = generate([catalog_set], "swagger2")
    assert doc["swagger"] == "2.0"
    assert {"v1Product", "rpcStatus", "protobufAny", "typeMoney"} <= set(doc["definitions"])
    # `{name=orders/*}:cancel` is alone on its template: `/v1/{name}` with a pattern.
    cancel = doc["paths"]["/v1/{name}:cancel"]["post"]
    assert cancel["parameters"][0] | {"description": ""} == {
        "name": "name",
        "in": "path",
        "required": True,
        "type": "string",
        "pattern": "orders/[^/]+",
        "description": "",
    }
    # GET `{name=products/*}` and GET `{name=orders/*}` would both be `GET /v1/{name}`:
    # every route on that path is expanded, so neither operation is lost.
    assert "/v1/{name}" not in doc["paths"]
    assert doc["paths"]["/v1/orders/{order}"]["get"]["operationId"] == "OrdersService_GetOrder"
    get = doc["paths"]["/v1/products/{product}"]["get"]
    assert get["operationId"] == "CatalogService_GetProduct"
    assert get["parameters"][0] | {"description": ""} == {
        "name": "product",
        "in": "path",
        "required": True,
        "type": "string",
        "description": "",
    }
    assert get["responses"]["default"]["schema"] == {"$ref": "#/definitions/rpcStatus"}
    create = doc["paths"]["/v1/products"]["post"]
    body = [p for p in create["parameters"] if p["in"] == "body"]
    assert body == [
        {
            "name": "product",
            "in": "body",
            "required": True,
            "schema": {"$ref": "#/definitions/v1Product"},
            "description": body[0]["description"],
        }
    ]
    assert "201" in create["responses"]


def test_aws_variant_obeys_the_import_rules(
    catalog_set: Path, conformance_descriptors: Path
) -> None:
    for descriptors in (catalog_set, conformance_descriptors):
        doc = generate([descriptors], "aws")
        assert aws_import_problems(doc) == []
    doc = generate([catalog_set], "aws")
    for item in doc["paths"].values():
        for op in item.values():
            integration = op["x-amazon-apigateway-integration"]
            assert integration["type"] == "http_proxy"
            assert integration["connectionType"] == "VPC_LINK"
            assert integration["connectionId"] == "${stageVariables.vpcLinkId}"
            # the API key meters (usage plans); the Lambda authorizer guards non-public methods
            needs: dict[str, list[str]] = {"api_key": []}
            if not op["x-colonnade-policy"]["public"]:
                needs["colonnade_jwt"] = []
            assert op["security"] == [needs]
            assert (
                op["x-amazon-apigateway-request-validator"]
                in doc["x-amazon-apigateway-request-validators"]
            )
    patch = doc["paths"]["/v1/products/{product}"]["patch"]["x-amazon-apigateway-integration"]
    assert patch["uri"] == "https://${stageVariables.backendHost}/v1/products/{product}"
    assert (
        patch["requestParameters"]["integration.request.path.product"]
        == "method.request.path.product"
    )
    assert set(doc["components"]["schemas"]) >= {"ColonnadeCatalogV1Product", "GoogleRpcStatus"}
    models = json.dumps(doc["components"]["schemas"])
    for banned in ('"readOnly"', '"default"', '"nullable"', '"int64"', '"example"'):
        assert banned not in models


def test_aws_omits_and_lists_what_api_gateway_cannot_express(conformance_descriptors: Path) -> None:
    doc = generate([conformance_descriptors], "aws")
    omitted = {o["operationId"]: o["reason"] for o in doc["x-colonnade-omitted-operations"]}
    assert "ConformanceService_Upload" in omitted and "verb" in omitted["ConformanceService_Upload"]
    assert "ConformanceService_Deep" in omitted
    served = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert not served & set(omitted)


def test_aws_cognito_option(catalog_set: Path) -> None:
    arn = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_abc"
    doc = generate([catalog_set], "aws", Options(cognito_user_pool_arns=[arn]))
    scheme = doc["components"]["securitySchemes"]["cognito"]
    assert scheme["x-amazon-apigateway-authorizer"]["providerARNs"] == [arn]
    assert doc["paths"]["/v1/products"]["get"]["security"] == [{"api_key": [], "cognito": []}]
    assert aws_import_problems(doc) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.__setitem__("openapi", "3.1.0"), "imports 2.0 and 3.0.x only"),
        (lambda d: d.__setitem__("security", [{"api_key": []}]), "root-level security"),
        (
            lambda d: d["components"]["schemas"].__setitem__("my.Model", {"type": "object"}),
            "not alphanumeric",
        ),
        (
            lambda d: d["paths"].__setitem__("/v1/{name}:cancel", {}),
            "not a whole segment",
        ),
        (
            lambda d: d["paths"].__setitem__("/v1/{rest+}/more", {}),
            "greedy parameter",
        ),
        (
            lambda d: d["components"]["schemas"]["GoogleRpcStatus"]["properties"][
                "code"
            ].__setitem__("format", "int32"),
            "with format",
        ),
        (
            lambda d: d["components"]["schemas"]["GoogleRpcStatus"].__setitem__("readOnly", True),
            "'readOnly' is not supported",
        ),
        (
            lambda d: d["components"]["securitySchemes"].__setitem__(
                "bearer", {"type": "http", "scheme": "bearer"}
            ),
            "not apiKey",
        ),
        (
            lambda d: next(iter(d["paths"]["/v1/products"].values())).pop(
                "x-amazon-apigateway-integration"
            ),
            "no x-amazon-apigateway-integration",
        ),
    ],
)
def test_import_rule_checker_catches_each_rule(
    catalog_set: Path, mutate: Any, expected: str
) -> None:
    doc = copy.deepcopy(generate([catalog_set], "aws"))
    mutate(doc)
    problems = aws_import_problems(doc)
    assert any(expected in p for p in problems), problems


def test_committed_documents_match_the_protos() -> None:
    stale = [
        str(path.relative_to(REPO_ROOT))
        for path, text in committed_documents().items()
        if not path.exists() or path.read_text() != text
    ]
    assert not stale, f"regenerate with `make openapi`: {stale} differ from the protos"


@pytest.mark.parametrize("fmt", FORMATS)
def test_conformance_golden(fmt: str, conformance_descriptors: Path) -> None:
    """Paths, methods, parameters and schemas of the conformance proto, pinned."""
    golden = GOLDEN / f"conformance.{fmt}.json"
    text = dumps(generate([conformance_descriptors], fmt))  # type: ignore[arg-type]
    if os.environ.get("COLONNADE_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"missing {golden}: run with COLONNADE_UPDATE_GOLDEN=1 and review"
    assert json.loads(text) == json.loads(golden.read_text())


def test_cli_writes_and_refuses(
    tmp_path: Path, catalog_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "aws.json"
    assert main(["--descriptors", str(catalog_set), "--format", "aws", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["openapi"] == "3.0.3"
    assert main(["--descriptors", str(tmp_path / "missing.binpb")]) == 1
    assert "missing.binpb" in capsys.readouterr().err


def test_committed_paths_are_stable() -> None:
    assert COMMITTED == {
        "openapi3": "openapi/colonnade.openapi3.json",
        "swagger2": "openapi/colonnade.swagger2.json",
        "aws": "openapi/colonnade.apigateway.json",
    }
