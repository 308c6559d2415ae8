"""Pure functions of the client: grpc-timeout values, targets, metadata, RpcError.

Against the scripted HTTP/2 servers of tests/gateway/h2server.py (see its docstring).
"""

from __future__ import annotations

import re

import pytest

from colonnade.gateway import grpcwire
from colonnade.gateway.grpcwire import RpcError
from tests.gateway.h2server import (
    parse_grpc_timeout,
)

pytestmark = pytest.mark.timeout(15)


# -- 15. pure functions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "wire"),
    [
        (0.0000001, b"1u"),
        (0.000001, b"1u"),
        (0.0000015, b"2u"),
        (0.0, b"1u"),
        (-1.0, b"1u"),
        (0.5, b"500000u"),
        (99.999999, b"99999999u"),
        (100.0, b"100000m"),
        (200, b"200000m"),
        (99_999.999, b"99999999m"),
        (100_000.0, b"100000S"),
        (1e9, b"16666667M"),
        (1e12, b"99999999H"),
    ],
)
def test_encode_timeout(seconds: float, wire: bytes) -> None:
    assert grpcwire.encode_timeout(seconds) == wire


@pytest.mark.parametrize(
    "seconds", [1e-7, 3e-7, 0.001, 0.0123456, 0.3, 1.0, 7.77, 123.456789, 3600.5, 86_400 * 365, 1e9]
)
def test_encode_timeout_never_rounds_down(seconds: float) -> None:
    value = grpcwire.encode_timeout(seconds)
    assert re.fullmatch(rb"[1-9]\d{0,7}[HMSmu]", value), value
    assert parse_grpc_timeout(value) >= seconds
    assert parse_grpc_timeout(value) <= max(seconds * 1.01, seconds + 2e-6)


@pytest.mark.parametrize(
    ("target", "parsed"),
    [
        ("localhost:50051", ("localhost", 50051, None)),
        ("127.0.0.1:1", ("127.0.0.1", 1, None)),
        ("[::1]:50051", ("::1", 50051, None)),
        ("dns:///backend.internal:443", ("backend.internal", 443, None)),
        ("dns:h:1", ("h", 1, None)),
        ("ipv4:10.0.0.1:65535", ("10.0.0.1", 65535, None)),
        ("ipv6:[fe80::1]:80", ("fe80::1", 80, None)),
        (" host:80 ", ("host", 80, None)),
        ("unix:/tmp/s", ("", 0, "/tmp/s")),
        ("unix:///tmp/s", ("", 0, "/tmp/s")),
        ("unix:relative.sock", ("", 0, "relative.sock")),
    ],
)
def test_parse_target(target: str, parsed: tuple[str, int, str | None]) -> None:
    assert grpcwire.parse_target(target) == parsed


@pytest.mark.parametrize(
    "target",
    [
        "",
        "host",
        "host:",
        ":80",
        "host:0",
        "host:65536",
        "host:http",
        "host:-1",
        "unix:",
        "dns:///",
        "[::1]",
    ],
)
def test_parse_target_rejects(target: str) -> None:
    with pytest.raises(ValueError):
        grpcwire.parse_target(target)


@pytest.mark.parametrize(
    ("wire", "raw"),
    [
        (b"AAEC/w==", b"\x00\x01\x02\xff"),
        (b"AAEC/w", b"\x00\x01\x02\xff"),
        (b"AP4=", b"\x00\xfe"),
        (b"AP4", b"\x00\xfe"),
        (b"AAEC", b"\x00\x01\x02"),
        (b"", b""),
    ],
)
def test_decode_binary(wire: bytes, raw: bytes) -> None:
    assert grpcwire.decode_binary(wire) == raw


def test_encode_metadata() -> None:
    assert grpcwire.encode_metadata([("X-Key", "v"), ("trace-bin", b"\x00\xff"), ("k", "")]) == [
        (b"x-key", b"v"),
        (b"trace-bin", b"AP8="),
        (b"k", b""),
    ]
    with pytest.raises(ValueError, match="-bin"):
        grpcwire.encode_metadata([("x-key", b"\x00")])
    with pytest.raises(ValueError):
        grpcwire.encode_metadata([("x-key", "café")])


def test_rpc_error_details_bin_and_str() -> None:
    err = RpcError(5, "gone", trailing=[(b"grpc-status-details-bin", b"AP8")])
    assert err.details_bin() == b"\x00\xff"
    assert str(err) == "gRPC status 5: gone"
    assert RpcError(5, "gone").details_bin() is None
    assert RpcError(5, "gone", trailing=[(b"grpc-status-details-bin", b"A")]).details_bin() is None
