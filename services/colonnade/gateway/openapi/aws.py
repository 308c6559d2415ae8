"""The API Gateway (REST API) variant: the OpenAPI 3 document made importable by AWS.

An `x-amazon-apigateway-integration` (`http_proxy` over a VPC link) on every operation,
request validators, API key (and optionally Cognito) security per operation, gateway
responses shaped like google.rpc.Status, and nothing API Gateway's importer rejects:
:func:`aws_import_problems` encodes its rules and :func:`strip_for_aws` applies them. Routes
it cannot express are listed in `x-colonnade-omitted-operations` (the gateway still serves
them behind the load balancer).
"""

from __future__ import annotations

import re
from typing import Any

from colonnade.gateway.openapi.model import AUTHORIZER_SCHEME, Format
from colonnade.gateway.openapi.openapi3 import OpenApi3Builder
from colonnade.gateway.openapi.paths import PathParam
from colonnade.gateway.routing import Route
from colonnade.gateway.status import Code
from colonnade.runtime.policy import EdgePolicy


class AwsBuilder(OpenApi3Builder):
    """Renders the document API Gateway imports."""

    fmt: Format = "aws"

    def skip_reason(self, route: Route, path: str, params: list[PathParam]) -> str:
        if route.client_streaming:
            return (
                "a streaming request body: API Gateway buffers the body (10 MB at most) and "
                "validates it as one JSON document, so a stream of messages cannot pass"
            )
        return unrepresentable(path, params)

    def finish_responses(self, responses: dict[str, Any], status: dict[str, Any]) -> None:
        """No `default` response; only object schemas (the rest is proxied as is)."""
        for response in responses.values():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            if response.get("content") and (
                "$ref" not in schema and schema.get("type") != "object"
            ):
                del response["content"]  # API Gateway wants object schemas; proxied as is

    def finish_operation(
        self, operation: dict[str, Any], route: Route, params: list[PathParam]
    ) -> None:
        """An `http_proxy` integration over the VPC link, request validation, and security
        per operation (API Gateway ignores root-level security)."""
        o = self.options
        path, _ = self.path(route)
        uri = f"{o.backend_scheme}://${{stageVariables.{o.backend_stage_variable}}}{path}"
        request_parameters = {
            f"integration.request.path.{p.name}": f"method.request.path.{p.name}" for p in params
        }
        for param in operation.get("parameters", []):
            if param["in"] == "query":
                key = param["name"]
                request_parameters[f"integration.request.querystring.{key}"] = (
                    f"method.request.querystring.{key}"
                )
        method = "ANY" if route.http_method == "*" else route.http_method
        operation["x-amazon-apigateway-integration"] = {
            "type": "http_proxy",
            "httpMethod": method,
            "uri": uri,
            "connectionType": "VPC_LINK",
            "connectionId": f"${{stageVariables.{o.vpc_link_stage_variable}}}",
            "passthroughBehavior": "when_no_match",
            "timeoutInMillis": o.integration_timeout_ms,
            "requestParameters": request_parameters,
            "responses": {"default": {"statusCode": str(route.success_status)}},
        }
        operation["x-amazon-apigateway-request-validator"] = "all" if route.body else "params"
        policy = self.policy(route)
        if policy is not None and policy.cache_ttl:
            # API Gateway keys its stage cache only on these (api-gateway-caching.html): every
            # path and query value, and the caller's Authorization when answers vary by caller.
            integration = operation["x-amazon-apigateway-integration"]
            integration["cacheKeyParameters"] = [
                "method.request." + {"query": "querystring"}.get(p["in"], p["in"]) + "." + p["name"]
                for p in operation.get("parameters", [])
                if p["in"] in ("path", "query", "header")
            ]
            integration["cacheNamespace"] = operation["operationId"]
        security: list[dict[str, list[str]]] = []
        requirement: dict[str, list[str]] = {}
        if o.api_key_required:
            requirement["api_key"] = []  # metering and usage-plan throttles, not identity
        if o.cognito_user_pool_arns:
            requirement["cognito"] = []
        if o.authorizer and policy is not None and not policy.public:
            requirement[AUTHORIZER_SCHEME] = []
        if requirement:
            security.append(requirement)
        operation["security"] = security

    def policy_parameters(self, policy: EdgePolicy) -> list[dict[str, Any]]:
        """A cached answer that varies by caller is keyed on the caller's Authorization
        (API Gateway cannot key on the authorizer's context)."""
        if policy.cache_ttl and policy.cache_varies_by_caller:
            return [
                {
                    "name": "Authorization",
                    "in": "header",
                    "required": False,
                    "description": "The caller's bearer token (a cache key of this method)",
                    "schema": {"type": "string"},
                }
            ]
        return []

    def finish_document(self, doc: dict[str, Any], omitted: list[dict[str, str]]) -> None:
        doc.pop("servers")
        doc["components"]["securitySchemes"] = self.security_schemes()
        doc["x-amazon-apigateway-request-validators"] = {
            "all": {"validateRequestBody": True, "validateRequestParameters": True},
            "params": {"validateRequestBody": False, "validateRequestParameters": True},
        }
        doc["x-amazon-apigateway-gateway-responses"] = gateway_responses()
        if omitted:
            # Routes API Gateway cannot express; the gateway still serves them behind the ALB.
            doc["x-colonnade-omitted-operations"] = omitted
        if scopes := self.contract_scopes():
            # Every scope a contract method requires, routed here or not (internal methods
            # such as catalog's reservations, the omitted custom verbs): the identity module
            # declares exactly these on the token issuer's resource server.
            doc["x-colonnade-scopes"] = scopes
        strip_for_aws(doc)

    def contract_scopes(self) -> dict[str, list[str]]:
        """Scope → the methods (`pkg.Service.Method`) requiring it, every contract's."""
        out: dict[str, list[str]] = {}
        for policy in self.policies.values():
            for scope in policy.scopes:
                out.setdefault(scope, []).append(policy.method)
        return {s: sorted(out[s]) for s in sorted(out)}

    def security_schemes(self) -> dict[str, Any]:
        o = self.options
        schemes: dict[str, Any] = {}
        if self.options.api_key_required:
            schemes["api_key"] = {"type": "apiKey", "name": "x-api-key", "in": "header"}
        if o.authorizer and any(not p.public for p in self.policies.values()):
            # REST APIs have no JWT authorizer (jwtConfiguration is HTTP-API only): a REQUEST
            # Lambda authorizer running the gateway's own verification code
            # (colonnade.gateway.authorizer) answers with an IAM policy covering every method
            # the token's scopes allow, so its cached result is right for any method.
            schemes[AUTHORIZER_SCHEME] = {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "custom",
                "x-amazon-apigateway-authorizer": {
                    "type": "request",
                    "identitySource": "method.request.header.Authorization",
                    "authorizerUri": o.authorizer_uri,
                    "authorizerResultTtlInSeconds": o.authorizer_ttl_seconds,
                },
            }
        if self.options.cognito_user_pool_arns:
            schemes["cognito"] = {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "x-amazon-apigateway-authtype": "cognito_user_pools",
                "x-amazon-apigateway-authorizer": {
                    "type": "cognito_user_pools",
                    "providerARNs": list(self.options.cognito_user_pool_arns),
                },
            }
        return schemes


def unrepresentable(path: str, params: list[PathParam]) -> str:
    """Why API Gateway cannot import this path, or ``""``."""
    if any(p.greedy for p in params):
        return "a '**' variable: greedy {x+} parameters do not validate as OpenAPI"
    if re.search(r"\}:", path):
        return "a custom verb after a path variable: parameters must be whole segments"
    return ""


def gateway_responses() -> dict[str, Any]:
    """API Gateway's own errors as google.rpc.Status bodies, like the gateway's."""

    def status(code: int, http: str) -> dict[str, Any]:
        template = (
            '{"code": '
            + str(int(code))
            + ', "message": $context.error.messageString, "details": []}'
        )
        return {"statusCode": http, "responseTemplates": {"application/json": template}}

    return {
        "DEFAULT_4XX": {
            "responseTemplates": status(Code.INVALID_ARGUMENT, "400")["responseTemplates"]
        },
        "DEFAULT_5XX": {"responseTemplates": status(Code.INTERNAL, "500")["responseTemplates"]},
        "BAD_REQUEST_BODY": status(Code.INVALID_ARGUMENT, "400"),
        "BAD_REQUEST_PARAMETERS": status(Code.INVALID_ARGUMENT, "400"),
        "MISSING_AUTHENTICATION_TOKEN": status(Code.NOT_FOUND, "404"),
        "INVALID_API_KEY": status(Code.PERMISSION_DENIED, "403"),
        "ACCESS_DENIED": status(Code.PERMISSION_DENIED, "403"),
        "UNAUTHORIZED": status(Code.UNAUTHENTICATED, "401"),
        "THROTTLED": status(Code.RESOURCE_EXHAUSTED, "429"),
        "QUOTA_EXCEEDED": status(Code.RESOURCE_EXHAUSTED, "429"),
        "REQUEST_TOO_LARGE": status(Code.INVALID_ARGUMENT, "413"),
        "UNSUPPORTED_MEDIA_TYPE": status(Code.INVALID_ARGUMENT, "415"),
        "INTEGRATION_TIMEOUT": status(Code.DEADLINE_EXCEEDED, "504"),
        "INTEGRATION_FAILURE": status(Code.UNAVAILABLE, "503"),
    }


# Keywords API Gateway's importer rejects in models (checked by aws_import_problems) …
_AWS_UNSUPPORTED = ("readOnly", "default", "example", "discriminator", "exclusiveMinimum")
# … and what the AWS variant drops besides (unknown to its JSON Schema draft 4 models).
_AWS_DROP = {*_AWS_UNSUPPORTED, "nullable", "exclusiveMaximum"}
# Keys under which a document holds schemas.
_SCHEMA_KEYS = ("schema", "schemas", "properties", "items", "additionalProperties")


def strip_for_aws(node: Any, in_schema: bool = False) -> None:
    """Remove what API Gateway's import rejects (see :func:`aws_import_problems`)."""
    if isinstance(node, dict):
        if "allOf" in node and len(node["allOf"]) == 1:
            inner = node.pop("allOf")[0]
            for key in list(node):
                if key != "description":
                    node.pop(key)
            node.update(inner)
        for key in list(node):
            if key in _AWS_DROP and in_schema:
                node.pop(key)
        if (
            in_schema
            and node.get("type") in ("integer", "number", "string")
            and "format" in node
            and (node["type"] != "string" or node["format"] not in ("date-time", "byte", "binary"))
        ):
            node.pop("format")
        for key, value in node.items():
            strip_for_aws(
                value,
                in_schema or key in _SCHEMA_KEYS,
            )
    elif isinstance(node, list):
        for item in node:
            strip_for_aws(item, in_schema)


def aws_import_problems(doc: dict[str, Any]) -> list[str]:
    """Everything in ``doc`` that an API Gateway REST API import rejects or drops.

    The rules (API Gateway developer guide, "Amazon API Gateway important notes" for REST
    APIs): OpenAPI 2.0 or 3.0 only; model names alphanumeric; path segments only
    ``[A-Za-z0-9_-.,:{}]`` and path parameters whole segments (a greedy ``{x+}`` only last);
    no ``readOnly``, ``default``, ``example``, ``discriminator``, ``exclusiveMinimum`` in
    models; ``integer``/``number`` without ``format``; security schemes only ``apiKey`` and
    security per operation (root-level security is ignored); no ``$ref`` to shared
    responses; every operation integrated; method response schemas objects.
    """
    problems: list[str] = []
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if not (version.startswith("3.0") or version == "2.0"):
        problems.append(f"OpenAPI version {version!r}: API Gateway imports 2.0 and 3.0.x only")
    if "security" in doc:
        problems.append("root-level security is ignored: declare it per operation")
    schemas = doc.get("components", {}).get("schemas", doc.get("definitions", {}))
    for name in schemas:
        if not re.fullmatch(r"[A-Za-z0-9]+", name):
            problems.append(f"model name {name!r} is not alphanumeric")
    for scheme_name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
        if scheme.get("type") != "apiKey":
            problems.append(
                f"security scheme {scheme_name!r} is {scheme.get('type')!r}, not apiKey"
            )
    if "responses" in doc.get("components", {}):
        problems.append("shared components.responses are not supported: inline them")
    for path, item in doc.get("paths", {}).items():
        segments = path.strip("/").split("/")
        for i, seg in enumerate(segments):
            if not re.fullmatch(r"[A-Za-z0-9_\-.,:{}+]*", seg):
                problems.append(f"{path}: segment {seg!r} has characters API Gateway rejects")
            if "{" in seg and not re.fullmatch(r"\{[A-Za-z0-9_]+\+?\}", seg):
                problems.append(f"{path}: parameter in {seg!r} is not a whole segment")
            if seg.endswith("+}") and i != len(segments) - 1:
                problems.append(f"{path}: greedy parameter {seg!r} is not the last segment")
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            if "x-amazon-apigateway-integration" not in op:
                problems.append(f"{where}: no x-amazon-apigateway-integration")
            if "security" not in op:
                problems.append(f"{where}: no per-operation security")
            for status, response in op.get("responses", {}).items():
                if "$ref" in response:
                    problems.append(f"{where} {status}: $ref responses are not supported")
                for media in response.get("content", {}).values():
                    schema = media.get("schema", {})
                    if "$ref" not in schema and schema.get("type") not in (None, "object"):
                        problems.append(f"{where} {status}: response schema is not an object")
    _walk_schema_problems(doc, problems, "", False)
    return problems


def _walk_schema_problems(node: Any, problems: list[str], where: str, in_schema: bool) -> None:
    if isinstance(node, dict):
        if in_schema:
            for key in _AWS_UNSUPPORTED:
                if key in node:
                    problems.append(f"{where}: '{key}' is not supported in models")
            if node.get("type") in ("integer", "number") and "format" in node:
                problems.append(f"{where}: '{node['type']}' with format '{node['format']}'")
        for key, value in node.items():
            _walk_schema_problems(
                value,
                problems,
                f"{where}/{key}",
                in_schema or key in _SCHEMA_KEYS,
            )
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _walk_schema_problems(item, problems, f"{where}/{i}", in_schema)
