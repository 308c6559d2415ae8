"""The own client's frame parser never raises on what a server sends, whatever it sends.

A backend (or anything on its port) can send any bytes. The connection must turn them into
protocol errors, failed calls or ignored frames, never an exception out of
`data_received` (uvloop would log it as a fatal protocol error and drop the connection
without the call getting a proper status). Random frame sequences, some built from valid
header blocks, go through a connection with one call open; afterwards the call must have
ended or still be waiting, and closing the connection must end it.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colonnade.gateway.errors import RpcError
from colonnade.gateway.grpcwire.connection import Connection
from colonnade.gateway.grpcwire.frames import SETTINGS, frame


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


ENCODER = hpack.Encoder()
GOOD_HEADERS = [(b":status", b"200"), (b"content-type", b"application/grpc")]
GOOD_TRAILERS = [(b"grpc-status", b"0"), (b"grpc-message", b"")]

payloads = st.one_of(
    st.binary(max_size=40),
    st.just(b"\x00\x00\x00\x00\x03abc"),  # a gRPC message
    st.sampled_from([ENCODER.encode(GOOD_HEADERS), ENCODER.encode(GOOD_TRAILERS)]),
    st.builds(lambda n: struct.pack(">I", n), st.integers(0, 2**32 - 1)),
    st.builds(lambda a, b: struct.pack(">II", a, b), st.integers(0, 2**32 - 1), st.integers(0, 20)),
)
frames = st.builds(
    frame,
    st.integers(0, 11),  # every frame type and an unknown one
    st.integers(0, 255),
    st.sampled_from([0, 1, 3, 2**31 - 1]),
    payloads,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, max_size=12), st.booleans(), st.integers(1, 9))
def test_random_frames_never_raise_out_of_the_parser(
    sequence: list[bytes], streaming: bool, chunk: int
) -> None:
    async def run() -> None:
        conn = Connection(b"backend:1", 1 << 16, b"test")
        transport = FakeTransport()
        conn.connection_made(transport)
        conn.data_received(frame(SETTINGS, 0, 0))
        assert conn.ready.done()
        call = conn.open_stream("/pkg.Svc/M", b"req", [], 5.0, streaming)
        data = b"".join(sequence)
        for i in range(0, len(data), chunk):  # frames split at arbitrary points
            conn.data_received(data[i : i + chunk])
        conn.connection_lost(None)
        assert call.done
        assert call.error is None or isinstance(call.error, RpcError)

    asyncio.run(run())
