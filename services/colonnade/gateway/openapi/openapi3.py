"""OpenAPI 3.0.3, the main document (`/openapi.json`, `openapi/colonnade.openapi3.json`)."""

from __future__ import annotations

from typing import Any

from colonnade.gateway.openapi.builder import CACHE_HEADERS, DocumentBuilder
from colonnade.gateway.openapi.model import (
    STATUS_TEXT,
    Format,
    Operation,
    error_statuses,
    operations,
    path_item_methods,
)
from colonnade.gateway.openapi.paths import PathParam
from colonnade.gateway.routing import Route
from colonnade.runtime.policy import EdgePolicy


def _headers(described: dict[str, str]) -> dict[str, Any]:
    return {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in described.items()
    }


class OpenApi3Builder(DocumentBuilder):
    """Renders OpenAPI 3.0.3; the `finish_*` and `skip_reason` hooks are where the API Gateway
    variant (aws.py) departs from it."""

    fmt: Format = "openapi3"

    def operation(self, op: Operation, params: list[PathParam]) -> dict[str, Any]:
        """The operation object of one route."""
        route = op.route
        operation = self.operation_head(op)
        parameters = self.parameters(op, params)
        policy = self.policy(route)
        if policy is not None:
            parameters += self.policy_parameters(policy)
        if parameters:
            operation["parameters"] = parameters
        if route.body:
            if route.http_body_request:
                content = {"*/*": {"schema": {"type": "string", "format": "binary"}}}
                required = True
                text = "Raw request body, passed through as google.api.HttpBody."
            elif route.client_streaming:
                schema, _, _ = self.body_schema(route)
                content = {
                    "application/x-ndjson": {"schema": schema},
                    "application/json": {"schema": schema},
                }
                required, text = False, self.stream_body_text(route)  # empty: an empty stream
            else:
                schema, required, text = self.body_schema(route)
                content = {"application/json": {"schema": schema}}
            body: dict[str, Any] = {"required": required, "content": content}
            if text:
                body["description"] = text
            operation["requestBody"] = body
        responses: dict[str, Any] = {}
        ok = str(route.success_status)
        if route.server_streaming:
            item = self.success_schema(route) or {}
            status = self.status_schema()
            line = {"type": "object", "properties": {"result": item, "error": status}}
            responses[ok] = {
                "description": "A stream: one JSON object per line (`result`, or a final `error`), "
                "or Server-Sent Events with `Accept: text/event-stream`.",
                "content": {
                    "application/x-ndjson": {"schema": line},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            }
        elif route.http_body_response:
            responses[ok] = {
                "description": "Raw response body with its own content type (google.api.HttpBody).",
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        else:
            success = self.success_schema(route)
            responses[ok] = {"description": STATUS_TEXT.get(route.success_status, "Success")}
            if success is not None:
                responses[ok]["content"] = {"application/json": {"schema": success}}
        status = self.status_schema()
        for code in error_statuses(route):
            responses[str(code)] = {
                "description": STATUS_TEXT[code],
                "content": {"application/json": {"schema": status}},
            }
        if policy is not None:
            responses[ok]["headers"] = _headers(self.policy_success_headers(policy))
            for code, headers in self.policy_errors(policy).items():
                responses[str(code)] = {
                    "description": STATUS_TEXT[code],
                    "headers": _headers(headers),
                    "content": {"application/json": {"schema": status}},
                }
            if policy.cache_ttl:
                responses["304"] = {
                    "description": "Not modified: If-None-Match matched the ETag",
                    "headers": _headers(CACHE_HEADERS),
                }
            responses = dict(sorted(responses.items()))
        self.finish_responses(responses, status)
        operation["responses"] = responses
        self.finish_operation(operation, route, params)
        return operation

    def document(self) -> dict[str, Any]:
        """The whole document."""
        o = self.options
        paths: dict[str, dict[str, Any]] = {}
        omitted: list[dict[str, str]] = []
        for op in operations(self.routes, self.comments):
            path, params = self.path(op.route)
            reason = self.skip_reason(op.route, path, params)
            if reason:
                omitted.append({"operationId": op.operation_id, "path": path, "reason": reason})
                continue
            for m in path_item_methods(op.route):
                paths.setdefault(path, {})[m] = self.operation(op, params)
        doc: dict[str, Any] = {
            "openapi": "3.0.3",
            "info": {"title": o.title, "version": o.version},
            "servers": [{"url": u} for u in o.servers],
            "tags": self.tags(),
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": dict(sorted(self.schemas.components.items()))},
        }
        if o.description:
            doc["info"]["description"] = o.description
        self.finish_document(doc, omitted)
        return doc

    # -- where the variants differ ---------------------------------------------------------

    def skip_reason(self, route: Route, path: str, params: list[PathParam]) -> str:
        """Why a path is left out of the document (`""`: it is not)."""
        return ""

    def finish_responses(self, responses: dict[str, Any], status: dict[str, Any]) -> None:
        """Completes an operation's responses: any other error is a google.rpc.Status."""
        responses["default"] = {
            "description": "An error: a google.rpc.Status with the HTTP status of its code.",
            "content": {"application/json": {"schema": status}},
        }

    def policy_parameters(self, policy: EdgePolicy) -> list[dict[str, Any]]:
        """Parameters a policy adds: If-None-Match on a cached GET."""
        return [self.if_none_match()] if policy.cache_ttl else []

    def finish_operation(
        self, operation: dict[str, Any], route: Route, params: list[PathParam]
    ) -> None:
        """Completes an operation: a bearer token or an API key, as its policy requires
        (none on a public method); without a policy, either or none."""
        policy = self.policy(route)
        if policy is None:
            operation["security"] = [{"bearerAuth": []}, {"apiKey": []}, {}]
        elif policy.public:
            operation["security"] = [{}]
        else:
            operation["security"] = [{"bearerAuth": []}, {"apiKey": []}]

    def finish_document(self, doc: dict[str, Any], omitted: list[dict[str, str]]) -> None:
        """Completes the document: its security schemes."""
        doc["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        }
