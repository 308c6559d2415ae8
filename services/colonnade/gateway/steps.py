"""The gateway's built-in pipeline steps, in the order they run (pipeline.py explains the
interface and where edge policies go).

    cors       CORS preflights answered here; allowed origins get their response headers
    health     /healthz (the process) and /readyz (every backend's grpc.health.v1)
    docs       /openapi.json, /swagger.json, /docs and the web UI
    route      the endpoint of (method, path), or 404 / 405 with `Allow`
    metadata   the call metadata from the request headers (headers.py)
    transcode  body (size limit, content type) + query + path values -> the request message
    call       the gRPC call with its deadline, and the reply: JSON, HttpBody or a stream
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from google.protobuf.message import DecodeError

from colonnade.gateway.backend import Backends
from colonnade.gateway.docs import ASSETS, PAGES, ApiDocs
from colonnade.gateway.endpoint import Endpoint
from colonnade.gateway.errors import (
    ClientDisconnected,
    ContentTooLarge,
    MethodNotAllowed,
    RpcError,
    StatusError,
    UnsupportedMediaType,
)
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.headers import metadata_headers, outgoing_metadata, parse_grpc_timeout
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.pipeline import Step, StepResult
from colonnade.gateway.responses import JSON, Reply, Response, StreamReply
from colonnade.gateway.routing import Router
from colonnade.gateway.rpc import DuplexCall, StreamCall, UnaryResponse
from colonnade.gateway.status import Code
from colonnade.gateway.streams import BidiCall, RequestPump
from colonnade.gateway.transcode import parse_json_body

log = logging.getLogger("colonnade.gateway")
HEALTHZ = "/healthz"
READYZ = "/readyz"


class Cors(Step):
    """Answers CORS preflights; responses to allowed origins carry the CORS headers."""

    name = "cors"

    def __init__(self, origins: list[str], max_age: int) -> None:
        self.any = "*" in origins
        self.origins = {o.encode() for o in origins if o != "*"}
        self.max_age = str(max_age).encode()

    def request(self, ex: Exchange) -> StepResult:
        origin = ex.origin
        if origin is None:
            return None
        allowed = self.any or origin in self.origins
        if allowed:
            ex.response_headers += [
                (b"access-control-allow-origin", b"*" if self.any else origin),
                (b"access-control-expose-headers", b"*"),
                (b"vary", b"Origin"),
            ]
        if ex.method != "OPTIONS":
            return None
        req_method = req_headers = None
        for name, value in ex.headers:
            if name == b"access-control-request-method":
                req_method = value
            elif name == b"access-control-request-headers":
                req_headers = value
        if req_method is None:
            raise MethodNotAllowed("OPTIONS is only answered as a CORS preflight")
        if not allowed:
            raise StatusError(
                Code.PERMISSION_DENIED,
                f"origin {origin.decode('latin-1')!r} is not allowed by the gateway's CORS policy",
            )
        headers = [
            *ex.response_headers,
            (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
            (b"access-control-allow-headers", req_headers or b"content-type, authorization"),
            (b"access-control-max-age", self.max_age),
        ]
        return Reply(204, headers, b"")


class Health(Step):
    """`/healthz`: the process is up. `/readyz`: every backend's health is SERVING, else 503
    naming those that are not."""

    name = "health"

    def __init__(self, backends: Backends) -> None:
        self.backends = backends

    def request(self, ex: Exchange) -> StepResult:
        path = ex.path
        if path != HEALTHZ and path != READYZ:
            return None
        headers = [*ex.response_headers, (b"content-type", JSON), (b"cache-control", b"no-store")]
        if path == HEALTHZ:
            return Reply(200, headers, b'{"status":"SERVING"}')
        return self._ready(headers)

    async def _ready(self, headers: list[tuple[bytes, bytes]]) -> Response:
        started = time.monotonic()
        statuses = await self.backends.readiness()
        if all(s == "SERVING" for s in statuses.values()):
            return Reply(200, headers, orjson.dumps({"status": "SERVING", "backends": statuses}))
        not_serving = {k: v for k, v in statuses.items() if v != "SERVING"}
        raise StatusError(
            Code.UNAVAILABLE,
            "backends not serving: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(not_serving.items()))
            + f" [checked in {1000 * (time.monotonic() - started):.0f} ms]",
        )


class Docs(Step):
    """The OpenAPI documents, the API docs page and the web UI (docs.py)."""

    name = "docs"

    def __init__(self, docs: ApiDocs) -> None:
        self.docs = docs

    def request(self, ex: Exchange) -> StepResult:
        path = ex.path
        if path not in PAGES and not path.startswith(ASSETS):  # inline: runs on every request
            return None
        page = self.docs.handle(ex.method, path)
        if page is None:
            return None
        status, kind, content = page
        headers = [
            *ex.response_headers,
            (b"content-type", kind.encode()),
            (b"cache-control", b"no-cache"),
        ]
        return Reply(status, headers, b"" if ex.method == "HEAD" else content)


class Route(Step):
    """Finds the endpoint of the request; 405 with `Allow` for a path other methods serve,
    404 for an unknown one."""

    name = "route"

    def __init__(self, router: Router[Endpoint], form_post_as_get: bool = False) -> None:
        self.router = router
        self.form_post_as_get = form_post_as_get

    def request(self, ex: Exchange) -> StepResult:
        match = self.router.match(ex.method, ex.path)
        if match is None:
            if self.form_post_as_get and ex.method == "POST" and _is_form(ex.content_type):
                # grpc-gateway's path-length fallback (opt-in here, see the README): the GET
                # route of the path, with the form fields read as query parameters.
                match = self.router.match("GET", ex.path)
                if match is not None:
                    ex.form = True
                    ex.endpoint = match.target
                    ex.values = match.values
                    return None
            allowed = self.router.allowed(ex.path)
            if allowed:
                raise MethodNotAllowed(f"method {ex.method} is not allowed on {ex.path}", allowed)
            raise StatusError(Code.NOT_FOUND, f"no route for {ex.method} {ex.path}")
        ex.endpoint = match.target
        ex.values = match.values
        return None


class Metadata(Step):
    """The call metadata: grpc-gateway's header rules (headers.py) and the request id."""

    name = "metadata"

    def request(self, ex: Exchange) -> StepResult:
        client = ex.scope.get("client")
        ex.metadata = outgoing_metadata(ex.headers, client[0] if client else None, ex.request_id)
        return None


class Transcode(Step):
    """Reads the body (413 over the limit, 415 when not JSON for a JSON route) and builds the
    request message from body, query and path values (transcode.py)."""

    name = "transcode"

    def __init__(self, max_body_bytes: int) -> None:
        self.max_body_bytes = max_body_bytes

    def request(self, ex: Exchange) -> StepResult:
        ep = ex.endpoint
        query = ex.scope.get("query_string", b"").decode("utf-8", "replace")
        if not ep.has_body:
            if ex.form:
                return self._with_form(ex, ep, query)
            ex.message = ep.builder.build(ex.values, query, None)
            return None
        if ep.client_streaming:  # the call step reads the body as a stream of messages
            if not _is_json(ex.content_type) and not _media_is(ex.content_type, NDJSON):
                raise UnsupportedMediaType(ex.content_type or b"")
            return None
        if ex.content_length > self.max_body_bytes:
            raise ContentTooLarge(self.max_body_bytes)
        return self._with_body(ex, ep, query)

    async def _with_body(self, ex: Exchange, ep: Endpoint, query: str) -> None:
        raw = await self._read_body(ex)
        if ep.http_body_request:
            ctype = (ex.content_type or b"application/octet-stream").decode("latin-1")
            ex.message = ep.builder.build_http_body(ex.values, query, raw, ctype)
            return
        if raw and not _is_json(ex.content_type):
            raise UnsupportedMediaType(ex.content_type or b"")
        ex.message = ep.builder.build(ex.values, query, parse_json_body(raw))

    async def _with_form(self, ex: Exchange, ep: Endpoint, query: str) -> None:
        """A form-encoded POST served as the GET: the form fields, then the URL's query
        parameters (Go's `Request.ParseForm` order), as the GET's query string."""
        if ex.content_length > self.max_body_bytes:
            raise ContentTooLarge(self.max_body_bytes)
        form = (await self._read_body(ex)).decode("utf-8", "replace")
        combined = f"{form}&{query}" if form and query else form or query
        ex.message = ep.builder.build(ex.values, combined, None)

    async def _read_body(self, ex: Exchange) -> bytes:
        limit = self.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await ex.receive()
            if msg["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = msg.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise ContentTooLarge(limit)
                chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Call(Step):
    """Calls the backend with the request's deadline (`Grpc-Timeout`, else the default) and
    answers: the response as JSON (or raw HttpBody) with `Grpc-Metadata-*` headers and, with
    `TE: trailers`, `Grpc-Trailer-*` trailers; a stream once its first message is in (an error
    before it gets its own HTTP status); a backend error as google.rpc.Status."""

    name = "call"

    def __init__(
        self,
        backends: Backends,
        conv: Converters,
        default_timeout: float | None,
        max_body_bytes: int = 4 * 1024 * 1024,
    ):
        self.backends = backends
        self.conv = conv
        self.default_timeout = default_timeout
        self.max_body_bytes = max_body_bytes  # bounds each message of a client stream
        self.status_cls = conv.registry.message_class_by_name("google.rpc.Status")

    async def request(self, ex: Exchange) -> Response | None:
        ep = ex.endpoint
        header = ex.timeout_header
        timeout = parse_grpc_timeout(header) if header else self.default_timeout
        channel = self.backends.channel_for(ep.service)
        if ep.client_streaming:
            return await self._client_stream(
                ex, ep, channel.duplex(ep.grpc_path, ex.metadata, timeout)
            )
        data = ex.message.SerializeToString()
        if ep.server_streaming:
            call = channel.stream(ep.grpc_path, data, ex.metadata, timeout)
            try:  # an error before the first message gets a mapped HTTP status
                first = await ep.read(call)
            except RpcError as exc:
                raise self.from_rpc_error(exc) from None
            return self._stream_reply(ex, ep, call, first)
        try:
            reply = await channel.unary(ep.grpc_path, data, ex.metadata, timeout)
        except RpcError as exc:
            raise self.from_rpc_error(exc) from None
        return self._reply(ex, ep, reply)

    async def _client_stream(self, ex: Exchange, ep: Endpoint, call: DuplexCall) -> Response:
        """Client streaming: the body's JSON messages are sent as they arrive, then the one
        response is answered as a unary call's. Bidirectional: the body is pumped beside the
        response, which streams as soon as its first message is in (grpc-gateway's
        generated handlers, over one HTTP/1.1 exchange)."""
        pump = RequestPump(ex, ep, call, self.max_body_bytes)
        if ep.server_streaming:
            bidi = BidiCall(call, pump)
            try:
                first = await ep.read(bidi)
            except RpcError as exc:
                raise self.from_rpc_error(exc) from None
            return self._stream_reply(ex, ep, bidi, first)
        try:
            await pump.run()
            message = await call.read()
            if message is None:
                raise RpcError(Code.INTERNAL, "the server sent no response message")
            if await call.read() is not None:
                call.cancel()
                raise RpcError(Code.INTERNAL, "the server sent two responses to a unary call")
        except RpcError as exc:
            raise self.from_rpc_error(exc) from None
        reply = UnaryResponse(message, call.initial_metadata, call.trailing_metadata)
        return self._reply(ex, ep, reply)

    @staticmethod
    def _reply(ex: Exchange, ep: Endpoint, reply: UnaryResponse) -> Reply:
        try:
            resp: Any = ep.deserialize(reply.message)
        except DecodeError as exc:
            raise StatusError(
                Code.INTERNAL, f"the backend's response does not parse: {exc}"
            ) from None
        base = ex.response_headers
        headers = (
            base + metadata_headers(reply.initial, b"grpc-metadata-") if reply.initial else base[:]
        )
        trailers = (
            metadata_headers(reply.trailing, b"grpc-trailer-")
            if ex.te is not None and ex.trailers_ok()
            else None
        )
        status = ep.status
        if ep.http_body_response:
            hb = ep.http_body(resp)
            body = hb.data
            headers.append(
                (b"content-type", hb.content_type.encode("latin-1") or b"application/octet-stream")
            )
        elif status == 204:
            body = b""
        else:
            body = orjson.dumps(ep.encode(resp))
            headers.append((b"content-type", JSON))
        if ex.method == "HEAD":
            body = b""
        return Reply(status, headers, body, trailers)

    def _stream_reply(
        self, ex: Exchange, ep: Endpoint, call: StreamCall, first: Any
    ) -> StreamReply:
        headers = ex.response_headers + metadata_headers(call.initial_metadata, b"grpc-metadata-")
        sse = False
        if ep.http_body_response:
            ctype = b"application/octet-stream"
            if first is not None:
                ctype = ep.http_body(first).content_type.encode("latin-1") or ctype
        elif b"text/event-stream" in ex.accept:
            sse = True
            ctype = b"text/event-stream"
            headers.append((b"cache-control", b"no-cache"))
        else:
            ctype = JSON  # grpc-gateway's JSON marshaler content type, one object per line
        headers.append((b"content-type", ctype))
        trailers_ok = ex.trailers_ok()
        if trailers_ok:
            headers.append((b"trailer", b"Grpc-Trailer-*"))
        return StreamReply(
            headers,
            ep,
            call,
            first,
            sse=sse,
            trailers_ok=trailers_ok,
            on_error=self.from_rpc_error,
        )

    def from_rpc_error(self, exc: RpcError) -> StatusError:
        """The HTTP error for a failed call: the backend's code, message and Status details
        (from `grpc-status-details-bin`), its header metadata as `Grpc-Metadata-*`, and
        `WWW-Authenticate` for UNAUTHENTICATED (grpc-gateway)."""
        message = exc.message
        details: list[Any] = []
        raw = exc.details_bin()
        if raw is not None:
            try:
                status = self.status_cls.FromString(raw)
                body = self.conv.to_json(status)
                details = body.get("details") or []
                message = status.message or message  # type: ignore[attr-defined]
            except Exception:  # a malformed detail must not hide the error itself
                log.warning("undecodable grpc-status-details-bin", exc_info=True)
        headers = metadata_headers(exc.initial, b"grpc-metadata-")
        if exc.code == Code.UNAUTHENTICATED:
            headers.append((b"www-authenticate", message.encode("latin-1", "replace")))
        return StatusError(
            exc.code, message, details=details, headers=headers, trailing=exc.trailing
        )


FORM = b"application/x-www-form-urlencoded"
NDJSON = b"application/x-ndjson"


def _media_is(content_type: bytes | None, media: bytes) -> bool:
    return content_type is not None and content_type.split(b";", 1)[0].strip().lower() == media


def _is_form(content_type: bytes | None) -> bool:
    return _media_is(content_type, FORM)


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return True  # grpc-gateway's default marshaler takes an untyped body as JSON
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == JSON or media.endswith(b"+json") or media == b"text/json"
