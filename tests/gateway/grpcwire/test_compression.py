"""Compressed responses: gzip and deflate, and the ways they can be broken.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable

import pytest
from h2.errors import ErrorCodes

from tests.gateway.h2server import (
    GRPC_OK,
    INTERNAL,
    PATH,
    RESOURCE_EXHAUSTED,
    MakeChannel,
    Request,
    StartServer,
    client_reset,
    grpc_frame,
    read_all,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 14. compression --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [(b"gzip", gzip.compress), (b"deflate", zlib.compress)],
)
async def test_compressed_response_is_decompressed(
    h2servers: StartServer,
    channels: MakeChannel,
    encoding: bytes,
    compress: Callable[[bytes], bytes],
) -> None:
    payload = b"compressible " * 1000

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"grpc-encoding", encoding)])
        req.send_now(grpc_frame(compress(payload), compressed=True) + grpc_frame(b"plain"))
        req.send_trailers(0)

    server = await h2servers(handler)
    call = channels(server.target).stream(PATH, b"", timeout=1.0)
    assert await read_all(call) == [payload, b"plain"]
    assert call.initial_metadata == []  # grpc-encoding is transport, not metadata


@pytest.mark.parametrize(
    ("encoding", "body", "code", "text"),
    [
        (b"snappy", b"x", INTERNAL, "compressed response with an unsupported encoding (snappy)"),
        (None, b"x", INTERNAL, "compressed response with an unsupported encoding (none declared)"),
        (b"gzip", b"not gzip at all", INTERNAL, "undecodable gzip response"),
        (
            b"gzip",
            # mtime=0: the parameter must be the same bytes in every pytest-xdist worker (the
            # workers' collections are compared; a gzip header carries the time by default)
            gzip.compress(bytes(100_000), mtime=0),
            RESOURCE_EXHAUSTED,
            "decompressed response larger",
        ),
    ],
    ids=["snappy", "no-encoding", "not-gzip", "too-large"],
)
async def test_bad_compressed_responses(
    h2servers: StartServer,
    channels: MakeChannel,
    encoding: bytes | None,
    body: bytes,
    code: int,
    text: str,
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        extra = [] if encoding is None else [(b"grpc-encoding", encoding)]
        req.send_headers([*GRPC_OK, *extra])
        req.send_now(grpc_frame(body, compressed=True))
        req.send_trailers(0)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target, max_message=50_000).unary(PATH, b"", timeout=1.0))
    assert err.code == code
    assert err.message.startswith(text)
    assert await client_reset(server.requests[0]) == ErrorCodes.CANCEL


async def test_truncated_compressed_message_is_an_error(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    payload = os.urandom(1000)

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers([*GRPC_OK, (b"grpc-encoding", b"gzip")])
        req.send_now(grpc_frame(gzip.compress(payload)[:600], compressed=True))
        req.send_trailers(0)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"", timeout=1.0))
    assert err.code == INTERNAL
