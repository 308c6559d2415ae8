"""Unary calls: request and metadata both ways, header order, Unix sockets, HPACK state,
trailers-only errors and header blocks split into CONTINUATION frames.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import base64
import os
import struct
import tempfile

import pytest

from colonnade.gateway import grpcwire
from tests.gateway.h2server import (
    CONTINUATION,
    DATA,
    END_HEADERS,
    GRPC_OK,
    HEADERS,
    NOT_FOUND,
    PATH,
    MakeChannel,
    Request,
    StartServer,
    b64,
    echo,
    parse_grpc_timeout,
    reply_with_metadata,
    rpc_error,
)

pytestmark = pytest.mark.timeout(15)


# -- 1. unary happy path ----------------------------------------------------------------------


async def test_unary_request_and_metadata_arrive_intact(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    server = await h2servers(reply_with_metadata)
    channel = channels(server.target)
    request = b"\x08\x96\x01\x00request\xff"
    md = grpcwire.encode_metadata([("X-Custom", "value 1"), ("trace-bin", b"\x00\x01\xfe\xff")])
    resp = await channel.unary(PATH, request, md, timeout=1.5)

    assert resp.message == b"reply:" + request
    assert resp.initial == [(b"x-initial", b"i1"), (b"initial-bin", b"AP4")]
    assert resp.trailing == [(b"x-trailing", b"t1"), (b"trailing-bin", b"/w==")]
    assert grpcwire.decode_binary(resp.initial[1][1]) == b"\x00\xfe"

    (req,) = server.requests
    assert req.header(b":method") == b"POST"
    assert req.header(b":scheme") == b"http"
    assert req.header(b":path") == PATH.encode()
    assert req.header(b":authority") == server.target.encode()
    assert req.header(b"te") == b"trailers"
    assert req.header(b"content-type") == b"application/grpc"
    assert req.header(b"user-agent") == b"colonnade-gateway"
    timeout = req.header(b"grpc-timeout")
    assert timeout is not None
    assert 1.0 < parse_grpc_timeout(timeout) <= 1.5
    assert req.header(b"x-custom") == b"value 1"
    assert grpcwire.decode_binary(req.header(b"trace-bin") or b"") == b"\x00\x01\xfe\xff"
    assert bytes(req.body) == b"\x00" + struct.pack(">I", len(request)) + request
    # no timeout, no grpc-timeout header
    await channel.unary(PATH, b"x")
    assert server.requests[1].header(b"grpc-timeout") is None


async def test_pseudo_headers_precede_regular_headers(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    lenient = await h2servers(echo)
    await channels(lenient.target).unary(PATH, b"x", timeout=1.0)
    names = [k for k, _ in lenient.requests[0].headers]
    first_regular = next(i for i, k in enumerate(names) if not k.startswith(b":"))
    assert all(not k.startswith(b":") for k in names[first_regular:]), names

    strict = await h2servers(echo, validate=True)
    resp = await channels(strict.target).unary(PATH, b"x", timeout=1.0)
    assert resp.message == b"x"


async def test_unix_socket_target(h2servers: StartServer, channels: MakeChannel) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        server = await h2servers(echo, unix_path=os.path.join(tmp, "grpc.sock"))
        channel = channels(server.target)
        assert (await channel.unary(PATH, b"over unix", timeout=1.0)).message == b"over unix"
        assert server.requests[0].header(b":authority") == b"localhost"


async def test_hpack_dynamic_table_stays_in_step_across_calls(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    """h2's encoder indexes response headers, evicts entries (1.5 KB values in a 4 KiB table)
    and re-sends all-indexed blocks: every response must still decode to what was sent."""
    values = {name: os.urandom(1100).hex()[:1500].encode() for name in (b"a", b"b", b"c")}

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(message, initial=[(b"x-v", values[message])], trailing=[(b"x-t", message)])

    server = await h2servers(handler)
    channel = channels(server.target)
    for key in (b"a", b"a", b"b", b"a", b"c", b"c", b"b", b"a", b"a"):
        resp = await channel.unary(PATH, key, timeout=1.0)
        assert resp.initial == [(b"x-v", values[key])]
        assert resp.trailing == [(b"x-t", key)]
    assert len(server.conns) == 1


# -- 2. trailers-only errors ------------------------------------------------------------------


async def test_trailers_only_error_with_percent_encoded_message_and_details(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    details = b"\x08\x05\x12\x0bnot found \xe2\x9c\x97"  # a google.rpc.Status, 16 bytes

    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.send_headers(
            [
                *GRPC_OK,
                (b"grpc-status", b"5"),
                (b"grpc-message", b"caf%C3%A9 100%25 %2F done"),
                (b"grpc-status-details-bin", b64(details, pad=False)),
                (b"x-extra", b"e"),
            ],
            end_stream=True,
        )

    server = await h2servers(handler)
    channel = channels(server.target)
    err = await rpc_error(channel.unary(PATH, b"x", timeout=1.0))
    assert err.code == NOT_FOUND
    assert err.message == "café 100% / done"
    assert err.details_bin() == details
    assert (b"x-extra", b"e") in err.trailing
    assert all(k not in (b"grpc-status", b"grpc-message") for k, _ in err.trailing)

    call = channel.stream(PATH, b"x", timeout=1.0)
    err = await rpc_error(call.read())
    assert (err.code, err.message, err.details_bin()) == (NOT_FOUND, "café 100% / done", details)
    assert len(server.conns) == 1


async def test_error_without_details_and_without_message(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    async def handler(req: Request) -> None:
        await req.ended.wait()
        req.respond(status=7)

    server = await h2servers(handler)
    err = await rpc_error(channels(server.target).unary(PATH, b"x", timeout=1.0))
    assert (err.code, err.message, err.details_bin()) == (7, "", None)


# -- 3. CONTINUATION --------------------------------------------------------------------------


async def test_header_blocks_split_into_continuation_frames_both_ways(
    h2servers: StartServer, channels: MakeChannel
) -> None:
    # h2 Huffman-codes what it sends (in pure Python, slowly): 36 KB of base64 still needs
    # two CONTINUATIONs after the HEADERS frame. The client sends literals, 40 KB as is.
    big_request = base64.b64encode(os.urandom(30_000))  # 40 000 bytes
    big_initial = base64.b64encode(os.urandom(27_000))  # 36 000 bytes
    big_trailing = base64.b64encode(os.urandom(27_000))

    async def handler(req: Request) -> None:
        (message,) = await req.messages()
        req.respond(
            message,
            initial=[(b"x-big-initial", big_initial)],
            trailing=[(b"x-big-trailing", big_trailing)],
        )

    server = await h2servers(handler)
    channel = channels(server.target)
    resp = await channel.unary(PATH, b"m", [(b"x-big", big_request)], timeout=5.0)
    assert resp.message == b"m"
    assert resp.initial == [(b"x-big-initial", big_initial)]
    assert resp.trailing == [(b"x-big-trailing", big_trailing)]

    (req,) = server.requests
    assert req.header(b"x-big") == big_request
    conn = server.conns[0]
    # the client's block: HEADERS without END_HEADERS, then CONTINUATIONs, the last one ending it
    block = [f for f in conn.frames_in if f.stream_id == 1 and f.kind in (HEADERS, CONTINUATION)]
    assert [f.kind for f in block] == [HEADERS] + [CONTINUATION] * (len(block) - 1)
    assert len(block) >= 3
    assert [bool(f.flags & END_HEADERS) for f in block] == [False] * (len(block) - 1) + [True]
    assert all(f.length <= 16_384 for f in block)
    # and the server's response headers and trailers both went out split
    out = [(f.kind, f.flags & END_HEADERS) for f in conn.frames_out if f.stream_id == 1]
    assert out == [(HEADERS, 0), (CONTINUATION, 4), (DATA, 0), (HEADERS, 0), (CONTINUATION, 4)]
    # the connection is still in step (HPACK, no interleaving): another call works
    assert (await channel.unary(PATH, b"again", timeout=5.0)).message == b"again"
