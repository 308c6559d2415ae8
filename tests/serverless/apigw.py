"""API Gateway proxy events written for the project, built as API Gateway builds them from
an HTTP request (AWS "Lambda proxy integration" input formats 1.0 and 2.0):

- REST API (1.0): `path` decoded and without the stage, `requestContext.path` with it;
  `headers` (last value) and `multiValueHeaders`; `queryStringParameters` (last value) and
  `multiValueQueryStringParameters`, values decoded; a binary body base64.
- HTTP API (2.0): `rawPath` as sent, with the stage prefix for a named stage;
  `rawQueryString` as sent; repeated headers joined with commas; cookies apart.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, unquote

STAGE = "prod"


class LambdaContext:
    """The part of Lambda's context object the handler reads."""

    def __init__(self, remaining_ms: int = 29_000) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "colonnade-test"
        self.aws_request_id = "req-test"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _split(target: str) -> tuple[str, str]:
    path, _, query = target.partition("?")
    return path, query


def _encode_body(body: bytes | None, binary: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    if binary:
        return base64.b64encode(body).decode("ascii"), True
    return body.decode("utf-8"), False


def request_body(json_body: Any = None, body: bytes | None = None) -> bytes | None:
    return json.dumps(json_body).encode() if json_body is not None else body


def rest_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    *,
    binary: bool = False,
    stage: str = STAGE,
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0)."""
    raw_path, query = _split(target)
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers or []:
        multi_headers.setdefault(name, []).append(value)
    multi_query: dict[str, list[str]] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(key, []).append(value)
    data, b64 = _encode_body(body, binary)
    return {
        "resource": "/{proxy+}",
        "path": unquote(raw_path),
        "httpMethod": method,
        "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": unquote(raw_path).lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/{stage}{unquote(raw_path)}",
            "stage": stage,
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "tests"},
        },
        "body": data,
        "isBase64Encoded": b64,
    }


def http_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    *,
    binary: bool = False,
    stage: str = STAGE,
) -> dict[str, Any]:
    """An HTTP API proxy event (payload 2.0); stage `$default` has no path prefix."""
    raw_path, query = _split(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers or []:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";")]
            continue
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    data, b64 = _encode_body(body, binary)
    prefix = "" if stage == "$default" else f"/{stage}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": prefix + raw_path,
        "rawQueryString": query,
        "headers": joined,
        "queryStringParameters": dict(parse_qsl(query)) or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": prefix + unquote(raw_path),
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "tests",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
        },
        "body": data,
        "isBase64Encoded": b64,
    }
    if cookies:
        event["cookies"] = cookies
    return event


def result_body(result: dict[str, Any]) -> bytes:
    """The body of a proxy answer, base64 decoded when flagged."""
    body = result.get("body") or ""
    return base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")


def result_headers(result: dict[str, Any]) -> dict[str, str]:
    """A proxy answer's headers as the HTTP client of the tests reads them (joined)."""
    if "multiValueHeaders" in result:
        return {k.lower(): ", ".join(v) for k, v in result["multiValueHeaders"].items()}
    headers = {k.lower(): v for k, v in result.get("headers", {}).items()}
    if result.get("cookies"):
        headers["set-cookie"] = ", ".join(result["cookies"])
    return headers
