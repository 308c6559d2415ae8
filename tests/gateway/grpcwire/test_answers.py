"""Answers that are not (valid) gRPC: mapped to the status gRPC prescribes.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import pytest
from h2.errors import ErrorCodes

from colonnade.gateway.grpcwire import Channel, RpcError
from tests.gateway.h2server import (
    DATA,
    GRPC_OK,
    INTERNAL,
    PATH,
    UNAUTHENTICATED,
    UNAVAILABLE,
    UNIMPLEMENTED,
    UNKNOWN,
    H2Server,
    Handler,
    MakeChannel,
    Request,
    StartServer,
    client_reset,
    echo,
    grpc_frame,
    raw_frame,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 10. answers that are not (valid) gRPC ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "ctype", "code", "text"),
    [
        (b"503", b"text/plain", UNAVAILABLE, "HTTP status 503"),
        (b"404", b"text/plain", UNIMPLEMENTED, "HTTP status 404"),
        (b"401", b"text/plain", UNAUTHENTICATED, "HTTP status 401"),
        (b"500", b"text/html", UNKNOWN, "HTTP status 500"),
        (b"200", b"text/html", UNKNOWN, "content type 'text/html'"),
    ],
)
async def test_non_grpc_answers(
    h2servers: StartServer, channels: MakeChannel, status: bytes, ctype: bytes, code: int, text: str
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([(b":status", status), (b"content-type", ctype)])
        req.send_now(b"<html>not gRPC</html>", end_stream=True)

    server = await h2servers(handler)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
    assert err.code == code
    assert err.message == f"the backend's answer is not gRPC ({text})"
    # the connection survives (the late DATA is dropped and credited)
    server.handler = echo
    assert (await channel.unary(PATH, b"ok", timeout=1.0)).message == b"ok"


async def _unary_against(
    h2servers: StartServer, channels: MakeChannel, script: Handler
) -> tuple[RpcError, H2Server, Channel]:
    server = await h2servers(script)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"", timeout=1.0))
    return err, server, channel


async def test_trailers_without_grpc_status_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"m"))
        req.send_headers([(b"x-no-status", b"1")], end_stream=True)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server ended the call without a grpc-status")


async def test_unary_with_zero_messages_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.respond()

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent no response message")


async def test_unary_with_two_messages_is_internal_and_hpack_stays_in_step(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        # the trailers (with a header h2 adds to its dynamic table) reach a stream the client
        # already reset: the client must still decode them for later blocks to make sense
        req.respond(message, message, trailing=[(b"x-indexed", b"dyn-" + message)])

    err, server, channel = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent two responses to a unary call")
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL
    server.handler = echo_with_trailer
    resp = await channel.unary(PATH, b"", timeout=1.0)
    assert resp.trailing == [(b"x-indexed", b"dyn-")]


async def echo_with_trailer(req: Request) -> None:
    (message,) = await req.messages()
    req.respond(message, trailing=[(b"x-indexed", b"dyn-" + message)])


async def test_data_with_end_stream_and_no_trailers_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"m"), end_stream=True)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server ended the call without a status")


async def test_trailers_inside_a_message_is_internal(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(GRPC_OK)
        req.send_now(grpc_frame(b"message")[:8])
        req.send_trailers(0)

    err, _, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the call ended inside a message")


async def test_data_before_headers_is_internal_and_reset(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.conn.write(raw_frame(DATA, 0, req.stream_id, grpc_frame(b"early")))

    err, server, _ = await _unary_against(h2servers, channels, handler)
    assert (err.code, err.message) == (INTERNAL, "the server sent DATA before its headers")
    assert await client_reset(server.requests[0]) == ErrorCodes.PROTOCOL_ERROR


async def test_informational_headers_are_skipped(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.send_headers([(b":status", b"100")])
        req.respond(message, initial=[(b"x-final", b"1")])

    server = await h2servers(handler)
    resp = await channels(server.target).unary(PATH, b"m", timeout=1.0)
    assert (resp.message, resp.initial) == (b"m", [(b"x-final", b"1")])
