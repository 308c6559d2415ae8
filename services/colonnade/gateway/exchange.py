"""One request on its way through the gateway's pipeline (pipeline.py), and what the steps
found out about it.

The request head is scanned once, here, for the headers the steps need; everything after
that is filled in by the step that knows it: the route and its path values (`route`), the
call metadata (`metadata`), the request message (`transcode`). A step that needs more (the
verified principal of an authentication policy, say) adds a slot here.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from colonnade.gateway.headers import printable
from colonnade.gateway.metadata import Metadata

if TYPE_CHECKING:
    from colonnade.gateway.endpoint import Endpoint
    from colonnade.gateway.responses import Response
    from colonnade.runtime.auth import Principal

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


class Exchange:
    """An HTTP request (ASGI scope and receive) and the pipeline's findings about it.

    The findings are set by the step that makes them, before any later step reads them:
    `endpoint` and `values` by `route`, `metadata` by `metadata`, `message` by `transcode`.
    """

    endpoint: Endpoint  # the matched route, compiled (route step)
    values: list[str]  # the decoded path variable values (route step)
    metadata: Metadata  # the call metadata, wire form (metadata step)
    message: Message  # the request message (transcode step)

    __slots__ = (
        "accept",
        "content_length",
        "content_type",
        "deferred",
        "endpoint",
        "form",
        "headers",
        "message",
        "metadata",
        "method",
        "origin",
        "path",
        "principal",
        "receive",
        "request_id",
        "response_headers",
        "scope",
        "te",
        "timeout_header",
        "traceparent",
        "values",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        qpos = path.find("?")
        self.path: str = path[:qpos] if qpos >= 0 else path  # raw: still percent-encoded
        headers: Headers = scope["headers"]
        self.headers = headers
        rid = origin = te = content_type = timeout_header = traceparent = None
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
            elif name == b"traceparent":
                traceparent = value
        if not rid or len(rid) > 200 or not printable(rid):
            # 128 random bits like a UUID4's hex, without uuid4's getrandom syscall and object:
            # a correlation id, not a secret (the generator is seeded per process by Python).
            # A client's id that cannot travel as metadata is replaced the same way.
            rid = b"%032x" % random.getrandbits(128)
        self.request_id: bytes = rid
        self.form = False  # a form-encoded POST served as a GET (route step, opt-in)
        self.principal: Principal | None = None  # the verified caller (auth policy step)
        # Work a policy must finish before the response goes out (pipeline.py).
        self.deferred: list[Callable[[Response], Awaitable[None]]] | None = None
        self.origin: bytes | None = origin
        self.te: bytes | None = te
        self.content_type: bytes | None = content_type
        self.content_length = content_length
        self.accept = accept
        self.timeout_header: str | None = timeout_header
        self.traceparent: bytes | None = traceparent  # the caller's trace context (observe.py)
        # Headers every response to this request carries, errors included.
        self.response_headers: Headers = [(b"x-request-id", rid)]

    def defer(self, action: Callable[[Response], Awaitable[None]]) -> None:
        """Runs `action(response)` after the response hooks, before the response is sent
        (a cache store, an invalidation); its failure is logged, never answered."""
        if self.deferred is None:
            self.deferred = []
        self.deferred.append(action)

    def trailers_ok(self) -> bool:
        """The client sent `TE: trailers` and the server can send HTTP/1.1 trailers."""
        te = self.te
        return (
            te is not None
            and b"trailers" in te.lower()
            and self.scope.get("extensions", {}).get("http.response.trailers") is not None
        )
