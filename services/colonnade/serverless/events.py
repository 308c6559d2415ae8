"""API Gateway proxy events as the gateway's HTTP requests, and its responses as the proxy
integration's answers.

Two event shapes (AWS "Lambda proxy integrations" documentation):

- REST API, payload 1.0: `httpMethod`, `path` (decoded, without the stage), `headers` and
  `multiValueHeaders`, `queryStringParameters` and `multiValueQueryStringParameters`
  (decoded values), `body` with `isBase64Encoded`; the answer has `statusCode`,
  `multiValueHeaders`, `body`, `isBase64Encoded`.
- HTTP API, payload 2.0 (`version: "2.0"`): `requestContext.http.method`, `rawPath` (with the
  stage when the stage is not `$default`), `rawQueryString` (as sent), `headers` (repeated
  headers joined with commas), `cookies`; the answer has `headers` (joined with commas) and
  `cookies` for `Set-Cookie`.

The request becomes an ASGI scope the gateway's pipeline reads as it reads a socket's:
percent-encoded path, raw query string, lowercase header names. What API Gateway already
decoded cannot be recovered: a path value with an encoded `/` (`%2F`) arrives as `/` in a
REST API's `path` and then matches as two segments; an HTTP API's `rawPath` keeps it.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, MutableMapping
from typing import Any
from urllib.parse import quote

from colonnade.gateway.exchange import Scope

#: Path characters left as they are when the decoded path is encoded again (RFC 3986 pchar).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
#: Response content types sent as text; anything else goes base64 (binary media).
_TEXT_TYPES = (
    "application/json",
    "application/problem+json",
    "application/x-ndjson",
    "application/javascript",
    "application/xml",
    "text/",
    "image/svg+xml",
)


#: Framing headers API Gateway computes itself for the client's connection.
_SET_BY_API_GATEWAY = frozenset({"content-length", "transfer-encoding", "connection"})


class EventError(ValueError):
    """An event that is not an API Gateway proxy event (names the missing field)."""


def is_v2(event: Mapping[str, Any]) -> bool:
    """An HTTP API payload 2.0 event (else REST API payload 1.0)."""
    return event.get("version") == "2.0"


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None:
        return b""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError:
            raise EventError("body: isBase64Encoded is true but the body is not base64") from None
    return str(body).encode("utf-8")


def _strip_base(path: str, base_path: str) -> str:
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        return path[len(base_path) :] or "/"
    return path


def _v1_headers(event: Mapping[str, Any]) -> list[tuple[bytes, bytes]]:
    multi = event.get("multiValueHeaders") or {}
    single = event.get("headers") or {}
    out: list[tuple[bytes, bytes]] = []
    for name, values in multi.items():
        for value in values or ():
            out.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    seen = {n.lower() for n in multi}
    for name, value in single.items():
        if name.lower() not in seen and value is not None:
            out.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    return out


def _v1_query(event: Mapping[str, Any]) -> bytes:
    multi = event.get("multiValueQueryStringParameters")
    if multi is None:
        single = event.get("queryStringParameters") or {}
        multi = {k: [v] for k, v in single.items()}
    parts = [
        f"{quote(str(k), safe='')}={quote(str(v), safe='')}"
        for k, values in multi.items()
        for v in values or ()
    ]
    return "&".join(parts).encode("ascii")


def to_scope(event: Mapping[str, Any], base_path: str = "") -> tuple[Scope, bytes]:
    """The ASGI scope of an API Gateway proxy event, and its body.

    `base_path` (a custom domain's base path mapping, e.g. `/api`) is removed from the path.
    """
    ctx = event.get("requestContext") or {}
    if is_v2(event):
        http = ctx.get("http") or {}
        method = http.get("method")
        raw_path = event.get("rawPath")
        if not method or raw_path is None:
            raise EventError("requestContext.http.method and rawPath are needed (payload 2.0)")
        stage = ctx.get("stage")
        if stage and stage != "$default":
            raw_path = _strip_base(raw_path, "/" + stage)
        path = _strip_base(raw_path, base_path)
        headers = [
            (k.lower().encode("latin-1"), str(v).encode("latin-1"))
            for k, v in (event.get("headers") or {}).items()
        ]
        cookies = event.get("cookies")
        if cookies:
            headers.append((b"cookie", "; ".join(cookies).encode("latin-1")))
        query = str(event.get("rawQueryString") or "").encode("latin-1")
        source = http.get("sourceIp")
        protocol = str(http.get("protocol") or "HTTP/1.1")
    else:
        method = event.get("httpMethod")
        decoded = event.get("path")
        if not method or decoded is None:
            raise EventError("httpMethod and path are needed (payload 1.0)")
        path = quote(_strip_base(str(decoded), base_path), safe=_PATH_SAFE)
        headers = _v1_headers(event)
        query = _v1_query(event)
        source = (ctx.get("identity") or {}).get("sourceIp")
        protocol = str(ctx.get("protocol") or "HTTP/1.1")
    body = _body(event)
    if body and not any(k == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(body)).encode()))
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": protocol.rpartition("/")[2] or "1.1",
        "method": str(method).upper(),
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("latin-1"),
        "query_string": query,
        "root_path": "",
        "headers": headers,
        "client": (source, 0) if source else None,
        "server": None,
        "aws.event": event,
    }
    return scope, body


class ResponseCollector:
    """The ASGI `send` of one request: collects the status, headers and body."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers") or [])
        elif kind == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                self.chunks.append(bytes(chunk))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def to_result(self, v2: bool) -> dict[str, Any]:
        """The proxy integration's answer (payload 1.0 or 2.0)."""
        ctype = ""
        multi: dict[str, list[str]] = {}
        for name, value in self.headers:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            if key == "content-type":
                ctype = text
            elif key in _SET_BY_API_GATEWAY:
                continue
            multi.setdefault(key, []).append(text)
        body = self.body
        binary = not ctype.lower().startswith(_TEXT_TYPES) and bool(body)
        if not binary:
            try:
                text_body = body.decode("utf-8")
            except UnicodeDecodeError:
                binary = True
        out: dict[str, Any] = {
            "statusCode": self.status,
            "isBase64Encoded": binary,
            "body": base64.b64encode(body).decode("ascii") if binary else text_body,
        }
        if v2:
            cookies = multi.pop("set-cookie", None)
            out["headers"] = {k: ", ".join(v) for k, v in multi.items()}
            if cookies:
                out["cookies"] = cookies
        else:
            out["multiValueHeaders"] = multi
        return out
