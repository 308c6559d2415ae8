"""A route with everything its requests need computed once: an endpoint.

The router hands the matched endpoint to the pipeline, so no per-request lookup is left:
the request builder (transcode.py), the response class and JSON encoder, the success status,
and whether bodies pass through raw as `google.api.HttpBody`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.message import DecodeError, Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import RpcError
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.routing import Route
from colonnade.gateway.rpc import StreamCall
from colonnade.gateway.status import Code
from colonnade.gateway.transcode import RequestBuilder
from colonnade.runtime.policy import EdgePolicy


class Endpoint:
    """One route, compiled: request builder, response decoding and encoding."""

    def __init__(self, route: Route, registry: Registry, conv: Converters, strict: bool) -> None:
        self.route = route
        self.service = route.service
        self.grpc_path = route.grpc_path
        self.server_streaming = route.server_streaming
        self.client_streaming = route.client_streaming
        self.has_body = bool(route.body)
        self.builder = RequestBuilder(route, registry, conv, strict=strict)
        self.deserialize = registry.message_class(route.response).FromString
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
        #: The contract's edge policy of the method (set by the gateway when policies are on).
        self.policy: EdgePolicy | None = None

    def http_body(self, msg: Any) -> Any:
        """The `google.api.HttpBody` of a response (the message or its response_body field)."""
        return getattr(msg, self.response_field_name) if self.response_field_name else msg

    async def read(self, call: StreamCall) -> Any:
        """The next message of a streaming call, parsed; None at the end."""
        data = await call.read()
        if data is None:
            return None
        try:
            return self.deserialize(data)
        except DecodeError as exc:
            call.cancel()
            raise RpcError(Code.INTERNAL, f"the backend's response does not parse: {exc}") from None

    def frame(self, msg: Any, sse: bool) -> bytes:
        """One streamed message as it goes on the wire: NDJSON line, SSE event, or raw bytes
        followed by grpc-gateway's delimiter (`ForwardResponseStream` writes "\n" after every
        message, HttpBody ones included, so line-reading clients see each one)."""
        if self.http_body_response:
            return bytes(self.http_body(msg).data) + b"\n"
        data = orjson.dumps(self.encode(msg))
        if sse:
            return b"data: " + data + b"\n\n"
        return b'{"result":' + data + b"}\n"
