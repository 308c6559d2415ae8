"""Swagger 2.0 close to grpc-gateway's `protoc-gen-openapiv2` (`/swagger.json`): legacy model
names (`v1Product`, `rpcStatus`), `/v1/{name}` with a `pattern` (expanded where two resources
would share it), `default` error responses."""

from __future__ import annotations

from typing import Any

from colonnade.gateway.openapi.builder import CACHE_HEADERS, DocumentBuilder
from colonnade.gateway.openapi.model import STATUS_TEXT, Format, operations, path_item_methods
from colonnade.gateway.openapi.paths import render_path
from colonnade.runtime.policy import EdgePolicy


def _headers(described: dict[str, str]) -> dict[str, Any]:
    return {name: {"type": "string", "description": text} for name, text in described.items()}


class Swagger2Builder(DocumentBuilder):
    """Renders Swagger 2.0."""

    fmt: Format = "swagger2"

    def _shared_paths(self) -> set[str]:
        """Swagger 2 paths that two routes would take with one method.

        Swagger 2 renders ``{name=products/*}`` as ``/v1/{name}`` with a ``pattern``, so
        ``GET /v1/{name=products/*}`` and ``GET /v1/{name=orders/*}`` would be one
        operation and one would be lost. Every route on such a path is rendered expanded
        instead (``/v1/products/{product}``), as protoc-gen-openapiv2's
        ``expand_slashed_path_patterns`` does.
        """
        taken: set[tuple[str, str]] = set()
        shared: set[str] = set()
        for route in self.routes:
            path, _ = render_path(route, self.fmt, self.registry)
            for method in path_item_methods(route):
                if (path, method) in taken:
                    shared.add(path)
                taken.add((path, method))
        return shared

    def _policy(
        self,
        operation: dict[str, Any],
        policy: EdgePolicy,
        ok: dict[str, Any],
        status_ref: dict[str, Any],
    ) -> None:
        """Security, the answers and headers the method's edge policy adds."""
        responses = operation["responses"]
        ok["headers"] = _headers(self.policy_success_headers(policy))
        for code, headers in self.policy_errors(policy).items():
            responses[str(code)] = {
                "description": STATUS_TEXT[code],
                "headers": _headers(headers),
                "schema": status_ref,
            }
        if policy.cache_ttl:
            operation.setdefault("parameters", []).append(self.if_none_match())
            responses["304"] = {
                "description": "Not modified: If-None-Match matched the ETag",
                "headers": _headers(CACHE_HEADERS),
            }
        operation["responses"] = dict(sorted(responses.items()))
        operation["security"] = [] if policy.public else [{"bearerAuth": []}, {"apiKey": []}]

    def document(self) -> dict[str, Any]:
        """The whole document."""
        o = self.options
        paths: dict[str, dict[str, Any]] = {}
        status_ref = self.status_schema()
        shared = self._shared_paths()
        for op in operations(self.routes, self.comments):
            route = op.route
            path, params = self.path(route)
            if path in shared:
                path, params = self.path(route, "openapi3")
            operation = self.operation_head(op)
            parameters = self.parameters(op, params)
            if route.body:
                if route.http_body_request:
                    body_schema: dict[str, Any] = {"type": "string", "format": "binary"}
                    required, text = True, ""
                else:
                    body_schema, required, text = self.body_schema(route)
                if route.client_streaming:
                    required, text = False, self.stream_body_text(route)
                    operation["consumes"] = ["application/json", "application/x-ndjson"]
                name = route.body_field.name if route.body_field is not None else "body"
                body_param = {
                    "name": name,
                    "in": "body",
                    "required": required,
                    "schema": body_schema,
                }
                if text:
                    body_param["description"] = text
                parameters.insert(len(params), body_param)
            if parameters:
                operation["parameters"] = parameters
            ok: dict[str, Any] = {"description": "A successful response."}
            schema = self.success_schema(route)
            if route.server_streaming:
                ok = {
                    "description": "A successful response.(streaming responses)",
                    "schema": {
                        "type": "object",
                        "properties": {"result": schema or {}, "error": status_ref},
                        "title": f"Stream result of {route.response.full_name}",
                    },
                }
            elif schema is not None:
                ok["schema"] = schema
            operation["responses"] = {
                str(route.success_status): ok,
                "default": {"description": "An unexpected error response.", "schema": status_ref},
            }
            policy = self.policy(route)
            if policy is not None:
                self._policy(operation, policy, ok, status_ref)
            for m in path_item_methods(route):
                paths.setdefault(path, {})[m] = operation
        absolute = [u for u in o.servers if "://" in u]
        host = absolute[0].split("://", 1)[1].split("/", 1)[0] if absolute else ""
        doc: dict[str, Any] = {
            "swagger": "2.0",
            "info": {"title": o.title, "version": o.version},
            "tags": self.tags(),
            "consumes": ["application/json"],
            "produces": ["application/json"],
            "paths": dict(sorted(paths.items())),
            "definitions": dict(sorted(self.schemas.components.items())),
            "securityDefinitions": {
                "bearerAuth": {"type": "apiKey", "name": "Authorization", "in": "header"},
                "apiKey": {"type": "apiKey", "name": "x-api-key", "in": "header"},
            },
        }
        if host:
            doc["host"] = host
        if o.description:
            doc["info"]["description"] = o.description
        return doc
