"""The gateway's own gRPC client: unary and server-streaming calls over HTTP/2, on asyncio.

Why not grpc.aio: `make bench` measured its client at 170-221 µs of CPU per unary call, more
than the whole request costs the Go reference gateway, and the `h2` library's state machine
costs the same. The gateway needs a small part of gRPC (bytes in, bytes out, metadata,
deadlines), so this package speaks it directly: frames are built and parsed here, header
blocks are decoded by `hpack` (python-hyper), and a unary call costs ~75 µs. grpc.aio stays
available behind the same interface (rpc.py, grpcaio.py) as the operator's escape hatch.

What it does, per RFC 9113 and gRPC's PROTOCOL-HTTP2.md:
- prior-knowledge HTTP/2 over TCP or a Unix socket (`host:port`, `dns:///host:port`,
  `unix:/path`); the connection is ready once the server's SETTINGS arrive;
- flow control both ways: requests wait for window, responses are credited as the caller
  consumes them (a slow streaming reader holds back its stream, not the connection);
- CONTINUATION frames, SETTINGS changes, PING answers, `max_concurrent_streams`;
- deadlines (`grpc-timeout` sent, RST_STREAM(CANCEL) and DEADLINE_EXCEEDED locally);
  a cancelled caller resets its stream;
- GOAWAY: calls above the last stream id, and streams the server refused, never reached the
  application and are retried once on another connection; the rest fail UNAVAILABLE;
- a pool of connections per channel, each reconnected on demand with gRPC's backoff (1 s,
  x1.6, jitter 0.2, capped at 10 s) while calls fail fast with UNAVAILABLE;
- TCP keepalive finds dead peers (gRPC clients send no keepalive PINGs by default either).

One concept per module, from the bytes up (as httpcore separates its layers):

    frames.py      HTTP/2 frame codec: constants, building frames, padding, SETTINGS
    hpack_fast.py  HPACK: request header blocks (no dynamic table), read-only response decoding
    stream.py      one call on a stream: gRPC messages, status, trailers-only, non-gRPC answers
    connection.py  one HTTP/2 connection (asyncio.Protocol): frames in and out, flow control
    call.py        StreamCall: a server-streaming call read message by message
    channel.py     Channel: a pool of connections to one address, back-off, transparent retry
    target.py      `host:port`, `[v6]:port`, `dns:///`, `unix:` targets

Metadata is wire form both ways: `(bytes, bytes)` pairs, lowercase keys, `-bin` values base64.
"""

from __future__ import annotations

from colonnade.gateway.errors import RpcError
from colonnade.gateway.grpcwire.call import StreamCall
from colonnade.gateway.grpcwire.channel import Channel
from colonnade.gateway.grpcwire.connection import Connection
from colonnade.gateway.grpcwire.hpack_fast import encode_timeout
from colonnade.gateway.grpcwire.target import parse_target
from colonnade.gateway.metadata import Metadata, decode_binary, encode_metadata
from colonnade.gateway.rpc import UnaryResponse

__all__ = [
    "Channel",
    "Connection",
    "Metadata",
    "RpcError",
    "StreamCall",
    "UnaryResponse",
    "decode_binary",
    "encode_metadata",
    "encode_timeout",
    "parse_target",
]
