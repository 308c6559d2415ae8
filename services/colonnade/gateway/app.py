"""The gateway as a raw ASGI application (no framework on the hot path).

Per request: CORS preflight or health endpoints, routing, body read with the size limit,
request transcoding, the gRPC call over a pooled channel with the deadline and metadata,
then the response (JSON, HttpBody, NDJSON or SSE stream) or a google.rpc.Status error.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from google.protobuf.message import DecodeError, Message

from colonnade.gateway.backend import BackendMap, Backends
from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.descriptors import Registry
from colonnade.gateway.docs import ApiDocs
from colonnade.gateway.errors import (
    BackendConfigError,
    ClientDisconnected,
    ContentTooLarge,
    MethodNotAllowed,
    RpcError,
    StatusError,
    UnsupportedMediaType,
)
from colonnade.gateway.headers import (
    metadata_headers,
    outgoing_metadata,
    parse_grpc_timeout,
    printable,
)
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.routing import Route, Router, load_routes
from colonnade.gateway.rpc import StreamCall, UnaryResponse
from colonnade.gateway.status import Code
from colonnade.gateway.transcode import RequestBuilder, parse_json_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("colonnade.gateway")
JSON = b"application/json"
HEALTHZ = "/healthz"
READYZ = "/readyz"


def status_error_page(http: int, message: str) -> tuple[bytes, bytes]:
    """The HTTP server's own answers (a malformed request, a crashed handler) in the
    gateway's error format (server.ErrorPage)."""
    code = Code.INVALID_ARGUMENT if 400 <= http < 500 else Code.INTERNAL
    return JSON, orjson.dumps({"code": code, "message": message, "details": []})


class CompiledRoute:
    """A route with everything computed once: builder, encoders, deserializer."""

    def __init__(self, route: Route, registry: Registry, conv: Converters, strict: bool) -> None:
        self.route = route
        self.builder = RequestBuilder(route, registry, conv, strict=strict)
        response_cls = registry.message_class(route.response)
        self.deserialize = response_cls.FromString
        if route.response_field is not None:
            enc = conv.field_encoder(route.response_field)
            name = route.response_field.name
            self.encode: Callable[[Message], Any] = lambda m: enc(getattr(m, name))
        else:
            self.encode = conv.encoder(route.response)
        self.http_body_request = route.http_body_request
        self.http_body_response = route.http_body_response
        self.response_field_name = route.response_field.name if route.response_field else None
        self.status = route.success_status


class Gateway:
    """The ASGI application."""

    #: The HTTP server's own error answers in the gateway's format (`serve(error_page=...)`).
    error_page = staticmethod(status_error_page)

    def __init__(self, cfg: GatewayConfig, registry: Registry) -> None:
        self.cfg = cfg
        self.registry = registry
        self.conv = Converters(registry, emit_unpopulated=cfg.emit_unpopulated)
        self.strict_conv = Converters(
            registry, emit_unpopulated=cfg.emit_unpopulated, ignore_unknown_fields=False
        )
        routes = load_routes(registry)
        self.router = Router(routes)
        self.backends = Backends(
            BackendMap.parse(cfg.backends),
            channels=cfg.channels_per_backend,
            max_message=cfg.max_message_bytes,
            client=cfg.grpc_client,
        )
        missing = self.backends.check_routes(routes)
        if missing:
            raise BackendConfigError(
                "no backend for " + ", ".join(missing) + " (add --backend SERVICE=HOST:PORT)"
            )
        conv = self.strict_conv if cfg.strict else self.conv
        self.compiled = {id(r): CompiledRoute(r, registry, conv, cfg.strict) for r in routes}
        self.status_cls = registry.message_class_by_name("google.rpc.Status")
        self.cors_any = "*" in cfg.cors_origins
        self.cors_origins = {o.encode() for o in cfg.cors_origins if o != "*"}
        self.default_timeout = cfg.default_timeout or None
        self.docs = ApiDocs(cfg.descriptors)
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Opens the channel pools (must run inside the serving event loop)."""
        if not self.started:
            self.backends.start()
            self.started = True

    async def shutdown(self) -> None:
        """Closes the channel pools."""
        if self.started:
            await self.backends.close()
            self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.handle(scope, receive, send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- request handling ------------------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serves one HTTP request."""
        if not self.started:
            await self.startup()
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        rid = origin = te = content_type = timeout_header = None
        content_length = -1
        accept = b""
        for name, value in headers:
            if name == b"x-request-id":
                rid = value
            elif name == b"origin":
                origin = value
            elif name == b"te":
                te = value
            elif name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                timeout_header = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    content_length = -1
            elif name == b"accept":
                accept = value
        if not rid or len(rid) > 200 or not printable(rid):
            # 128 random bits like a UUID4's hex, without uuid4's getrandom syscall and object:
            # a correlation id, not a secret (the generator is seeded per process by Python).
            # A client's id that cannot travel as metadata is replaced the same way.
            rid = b"%032x" % random.getrandbits(128)
        base = [(b"x-request-id", rid)]
        if origin is not None:
            base.extend(self._cors_headers(origin))
        method = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        qpos = path.find("?")
        if qpos >= 0:
            path = path[:qpos]
        try:
            if method == "OPTIONS" and origin is not None:
                await self._preflight(scope, origin, base, send)
                return
            if path in (HEALTHZ, READYZ):
                await self._health(path, base, send)
                return
            page = self.docs.handle(method, path)
            if page is not None:
                status, kind, content = page
                headers = [*base, (b"content-type", kind.encode()), (b"cache-control", b"no-cache")]
                await self._send(send, status, headers, b"" if method == "HEAD" else content, [])
                return
            match = self.router.match(method, path)
            if match is None:
                allowed = self.router.allowed(path)
                if allowed:
                    raise MethodNotAllowed(f"method {method} is not allowed on {path}", allowed)
                raise StatusError(Code.NOT_FOUND, f"no route for {method} {path}")
            cr = self.compiled[id(match.route)]
            route = match.route
            body: Any = None
            raw = b""
            if route.body:
                if content_length > self.cfg.max_body_bytes:
                    raise ContentTooLarge(self.cfg.max_body_bytes)
                raw = await self._read_body(receive)
                if cr.http_body_request:
                    ctype = (content_type or b"application/octet-stream").decode("latin-1")
                    query = scope.get("query_string", b"").decode("utf-8", "replace")
                    req = cr.builder.build_http_body(match.values, query, raw, ctype)
                else:
                    if raw and not _is_json(content_type):
                        raise UnsupportedMediaType(content_type or b"")
                    body = parse_json_body(raw)
                    query = scope.get("query_string", b"").decode("utf-8", "replace")
                    req = cr.builder.build(match.values, query, body)
            else:
                query = scope.get("query_string", b"").decode("utf-8", "replace")
                req = cr.builder.build(match.values, query, None)
            timeout = parse_grpc_timeout(timeout_header) if timeout_header else self.default_timeout
            client = scope.get("client")
            md = outgoing_metadata(headers, client[0] if client else None, rid)
            trailers_ok = (
                te is not None
                and b"trailers" in te.lower()
                and bool(scope.get("extensions", {}).get("http.response.trailers") is not None)
            )
            channel = self.backends.channel_for(route.service)
            data = req.SerializeToString()
            if route.server_streaming:
                call = channel.stream(route.grpc_path, data, md, timeout)
                sse = b"text/event-stream" in accept
                await self._stream(cr, call, base, trailers_ok, sse, send)
            else:
                try:
                    resp = await channel.unary(route.grpc_path, data, md, timeout)
                except RpcError as exc:
                    raise self._from_rpc_error(exc) from None
                await self._unary(cr, resp, base, trailers_ok, method, send)
        except StatusError as exc:
            await self._send_error(exc, base, send)
        except ClientDisconnected:
            return

    # -- unary -----------------------------------------------------------------------------

    async def _unary(
        self,
        cr: CompiledRoute,
        reply: UnaryResponse,
        base: list[tuple[bytes, bytes]],
        trailers_ok: bool,
        method: str,
        send: Send,
    ) -> None:
        try:
            resp: Any = cr.deserialize(reply.message)
        except DecodeError as exc:
            raise StatusError(
                Code.INTERNAL, f"the backend's response does not parse: {exc}"
            ) from None
        headers = (
            base + metadata_headers(reply.initial, b"grpc-metadata-") if reply.initial else base[:]
        )
        trailers = metadata_headers(reply.trailing, b"grpc-trailer-") if trailers_ok else []
        status = cr.status
        if cr.http_body_response:
            hb = getattr(resp, cr.response_field_name) if cr.response_field_name else resp
            body = hb.data
            headers.append(
                (b"content-type", hb.content_type.encode("latin-1") or b"application/octet-stream")
            )
        elif status == 204:
            body = b""
        else:
            body = orjson.dumps(cr.encode(resp))
            headers.append((b"content-type", JSON))
        if method == "HEAD":
            body = b""
        await self._send(send, status, headers, body, trailers)

    # -- server streaming ------------------------------------------------------------------

    async def _stream(
        self,
        cr: CompiledRoute,
        call: StreamCall,
        base: list[tuple[bytes, bytes]],
        trailers_ok: bool,
        sse: bool,
        send: Send,
    ) -> None:
        # Wait for the first message: an error before it gets a mapped HTTP status.
        try:
            first = await self._read(cr, call)
        except RpcError as exc:
            raise self._from_rpc_error(exc) from None
        headers = base + metadata_headers(call.initial_metadata, b"grpc-metadata-")
        http_body = cr.http_body_response
        if http_body:
            ctype = b"application/octet-stream"
            if first is not None:
                hb = getattr(first, cr.response_field_name) if cr.response_field_name else first
                ctype = hb.content_type.encode("latin-1") or ctype
        elif sse:
            ctype = b"text/event-stream"
            headers.append((b"cache-control", b"no-cache"))
        else:
            ctype = JSON  # grpc-gateway's JSON marshaler content type, one object per line
        headers.append((b"content-type", ctype))
        if trailers_ok:
            headers.append((b"trailer", b"Grpc-Trailer-*"))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": headers,
                "trailers": trailers_ok,
            }
        )
        msg = first
        error: StatusError | None = None
        try:
            while msg is not None:
                await send(
                    {
                        "type": "http.response.body",
                        "body": self._frame(cr, msg, sse, http_body),
                        "more_body": True,
                    }
                )
                msg = await self._read(cr, call)
        except RpcError as exc:
            error = self._from_rpc_error(exc)
        except OSError:  # the client went away
            call.cancel()
            return
        if error is not None and not http_body:
            status_json = orjson.dumps(error.body())
            if sse:
                chunk = b"event: error\ndata: " + status_json + b"\n\n"
            else:
                chunk = b'{"error":' + status_json + b"}\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if trailers_ok:
            trailing = call.trailing_metadata if error is None else error.trailing
            await send(
                {
                    "type": "http.response.trailers",
                    "headers": metadata_headers(trailing, b"grpc-trailer-"),
                    "more_trailers": False,
                }
            )

    @staticmethod
    async def _read(cr: CompiledRoute, call: StreamCall) -> Any:
        """The next message of a streaming call, parsed; None at the end."""
        data = await call.read()
        if data is None:
            return None
        try:
            return cr.deserialize(data)
        except DecodeError as exc:
            call.cancel()
            raise RpcError(Code.INTERNAL, f"the backend's response does not parse: {exc}") from None

    def _frame(self, cr: CompiledRoute, msg: Any, sse: bool, http_body: bool) -> bytes:
        if http_body:
            hb = getattr(msg, cr.response_field_name) if cr.response_field_name else msg
            return bytes(hb.data)
        data = orjson.dumps(cr.encode(msg))
        if sse:
            return b"data: " + data + b"\n\n"
        return b'{"result":' + data + b"}\n"

    # -- helpers ---------------------------------------------------------------------------

    async def _read_body(self, receive: Receive) -> bytes:
        limit = self.cfg.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
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

    def _from_rpc_error(self, exc: RpcError) -> StatusError:
        code = exc.code
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
        headers: list[tuple[bytes, bytes]] = metadata_headers(exc.initial, b"grpc-metadata-")
        if code == Code.UNAUTHENTICATED:
            headers.append((b"www-authenticate", message.encode("latin-1", "replace")))
        return StatusError(code, message, details=details, headers=headers, trailing=exc.trailing)

    async def _send_error(
        self, exc: StatusError, base: list[tuple[bytes, bytes]], send: Send
    ) -> None:
        headers = base + exc.headers + [(b"content-type", JSON)]
        await self._send(send, exc.http, headers, orjson.dumps(exc.body()), [])

    async def _send(
        self,
        send: Send,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        trailers: list[tuple[bytes, bytes]],
    ) -> None:
        if trailers:
            headers.append((b"trailer", b", ".join(k for k, _ in trailers)))
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": headers,
                    "trailers": True,
                }
            )
            await send({"type": "http.response.body", "body": body, "more_body": False})
            await send(
                {"type": "http.response.trailers", "headers": trailers, "more_trailers": False}
            )
            return
        if status != 204:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _cors_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        if not (self.cors_any or origin in self.cors_origins):
            return []
        return [
            (b"access-control-allow-origin", b"*" if self.cors_any else origin),
            (b"access-control-expose-headers", b"*"),
            (b"vary", b"Origin"),
        ]

    async def _preflight(
        self, scope: Scope, origin: bytes, base: list[tuple[bytes, bytes]], send: Send
    ) -> None:
        allowed_origin = self.cors_any or origin in self.cors_origins
        req_method = req_headers = None
        for name, value in scope["headers"]:
            if name == b"access-control-request-method":
                req_method = value
            elif name == b"access-control-request-headers":
                req_headers = value
        if req_method is None:
            raise MethodNotAllowed("OPTIONS is only answered as a CORS preflight")
        if not allowed_origin:
            raise StatusError(
                Code.PERMISSION_DENIED,
                f"origin {origin.decode('latin-1')!r} is not allowed by the gateway's CORS policy",
            )
        headers = [
            *base,
            (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
            (b"access-control-allow-headers", req_headers or b"content-type, authorization"),
            (b"access-control-max-age", str(self.cfg.cors_max_age).encode()),
        ]
        await self._send(send, 204, headers, b"", [])

    async def _health(self, path: str, base: list[tuple[bytes, bytes]], send: Send) -> None:
        headers = [*base, (b"content-type", JSON), (b"cache-control", b"no-store")]
        if path == HEALTHZ:
            await self._send(send, 200, headers, b'{"status":"SERVING"}', [])
            return
        started = time.monotonic()
        statuses = await self.backends.readiness()
        ready = all(s == "SERVING" for s in statuses.values())
        if ready:
            body = orjson.dumps({"status": "SERVING", "backends": statuses})
            await self._send(send, 200, headers, body, [])
            return
        not_serving = {k: v for k, v in statuses.items() if v != "SERVING"}
        raise StatusError(
            Code.UNAVAILABLE,
            "backends not serving: "
            + ", ".join(f"{k} ({v})" for k, v in sorted(not_serving.items()))
            + f" [checked in {1000 * (time.monotonic() - started):.0f} ms]",
        )


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return True  # grpc-gateway's default marshaler takes an untyped body as JSON
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == JSON or media.endswith(b"+json") or media == b"text/json"
