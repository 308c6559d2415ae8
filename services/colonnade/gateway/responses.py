"""What the gateway answers: a complete reply, a stream of messages, or an error.

Steps build a response and return it; the pipeline lets the steps that ran adjust it (status,
headers) and then sends it through ASGI. A `Reply` is whole (its body known), so a policy can
also read or store it; a `StreamReply` is written message by message as the backend sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from colonnade.gateway.errors import RpcError, StatusError
from colonnade.gateway.exchange import Headers, Send
from colonnade.gateway.headers import metadata_headers
from colonnade.gateway.rpc import StreamCall
from colonnade.gateway.status import Code

if TYPE_CHECKING:
    from colonnade.gateway.endpoint import Endpoint

JSON = b"application/json"


class Response:
    """A response a step produced: its status and headers, and how to send it."""

    __slots__ = ("headers", "status")

    def __init__(self, status: int, headers: Headers) -> None:
        self.status = status
        self.headers = headers

    async def send(self, send: Send) -> None:
        """Writes the response through ASGI."""
        raise NotImplementedError


class Reply(Response):
    """A whole response: status, headers, body and, with `TE: trailers`, trailers."""

    __slots__ = ("body", "trailers")

    def __init__(
        self, status: int, headers: Headers, body: bytes, trailers: Headers | None = None
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.trailers = trailers

    async def send(self, send: Send) -> None:
        headers, trailers = self.headers, self.trailers
        if trailers:
            headers.append((b"trailer", b", ".join(k for k, _ in trailers)))
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status,
                    "headers": headers,
                    "trailers": True,
                }
            )
            await send({"type": "http.response.body", "body": self.body, "more_body": False})
            await send(
                {"type": "http.response.trailers", "headers": trailers, "more_trailers": False}
            )
            return
        if self.status != 204:
            headers.append((b"content-length", str(len(self.body)).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def error_reply(exc: StatusError, headers: Headers, trailers_ok: bool = False) -> Reply:
    """A google.rpc.Status JSON body with the error's HTTP status and headers; with
    `trailers_ok` (the client sent `TE: trailers`) the failed call's trailing metadata goes
    out as `Grpc-Trailer-*` trailers, as grpc-gateway's DefaultHTTPErrorHandler sends them."""
    trailers = metadata_headers(exc.trailing, b"grpc-trailer-") if trailers_ok else None
    return Reply(
        exc.http,
        [*headers, *exc.headers, (b"content-type", JSON)],
        orjson.dumps(exc.body()),
        trailers,
    )


def status_error_page(http: int, message: str) -> tuple[bytes, bytes]:
    """The HTTP server's own answers (a malformed request, a crashed handler) in the
    gateway's error format (server.ErrorPage)."""
    code = Code.INVALID_ARGUMENT if 400 <= http < 500 else Code.INTERNAL
    return JSON, orjson.dumps({"code": code, "message": message, "details": []})


class StreamReply(Response):
    """A server-streaming call answered as it goes: newline-delimited `{"result": …}` JSON,
    Server-Sent Events, or raw `HttpBody` bytes each followed by "\n"; an error after the
    first message becomes a last `{"error": …}` line (an `event: error` in SSE), in an
    `HttpBody` stream too, so a client can always tell failure from success.
    """

    __slots__ = ("call", "endpoint", "first", "on_error", "sse", "trailers_ok")

    def __init__(
        self,
        headers: Headers,
        endpoint: Endpoint,
        call: StreamCall,
        first: Any,
        *,
        sse: bool,
        trailers_ok: bool,
        on_error: Callable[[RpcError], StatusError],
    ) -> None:
        self.status = 200
        self.headers = headers
        self.endpoint = endpoint
        self.call = call
        self.first = first
        self.sse = sse
        self.trailers_ok = trailers_ok
        self.on_error = on_error

    async def send(self, send: Send) -> None:
        ep, call, sse = self.endpoint, self.call, self.sse
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": self.headers,
                "trailers": self.trailers_ok,
            }
        )
        msg = self.first
        error: StatusError | None = None
        try:
            while msg is not None:
                await send(
                    {
                        "type": "http.response.body",
                        "body": ep.frame(msg, sse),
                        "more_body": True,
                    }
                )
                msg = await ep.read(call)
        except RpcError as exc:
            error = self.on_error(exc)
        except OSError:  # the client went away
            call.cancel()
            return
        if error is not None:  # HttpBody streams too: grpc-gateway's error chunk is JSON
            status_json = orjson.dumps(error.body())
            if sse:
                chunk = b"event: error\ndata: " + status_json + b"\n\n"
            else:
                chunk = b'{"error":' + status_json + b"}\n"
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        if self.trailers_ok:
            trailing = call.trailing_metadata if error is None else error.trailing
            await send(
                {
                    "type": "http.response.trailers",
                    "headers": metadata_headers(trailing, b"grpc-trailer-"),
                    "more_trailers": False,
                }
            )
