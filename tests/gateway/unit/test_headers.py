"""HTTP headers to gRPC metadata and back (headers.py), grpc-gateway's default rules."""

from __future__ import annotations

import base64

import pytest

from colonnade.gateway.errors import BadRequest
from colonnade.gateway.headers import (
    metadata_headers,
    outgoing_metadata,
    parse_grpc_timeout,
    printable,
)

RID = b"0123456789abcdef0123456789abcdef"


def test_forwarded_request_headers() -> None:
    md = outgoing_metadata(
        [
            (b"authorization", b"Bearer t0k"),
            (b"grpc-metadata-tenant", b"acme"),
            (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            (b"user-agent", b"tests/1"),
            (b"host", b"gw:8080"),
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-custom", b"not forwarded"),
            (b"x-request-id", b"client id, already first"),
        ],
        "127.0.0.1",
        RID,
    )
    assert md == [
        (b"x-request-id", RID),
        (b"authorization", b"Bearer t0k"),
        (b"tenant", b"acme"),
        (b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        (b"grpcgateway-user-agent", b"tests/1"),
        (b"grpcgateway-host", b"gw:8080"),
        (b"x-forwarded-for", b"203.0.113.9, 127.0.0.1"),
        (b"x-forwarded-host", b"gw:8080"),
    ]


def test_binary_metadata_is_normalized_and_bad_keys_and_values_skipped() -> None:
    raw = b"\x00\x01\xfe\xff"
    urlsafe_unpadded = base64.urlsafe_b64encode(raw).rstrip(b"=")
    md = outgoing_metadata(
        [
            (b"grpc-metadata-blob-bin", urlsafe_unpadded),
            (b"grpc-metadata-bad-bin", b"a"),  # one base64 character: undecodable
            (b"grpc-metadata-grpc-status", b"0"),  # reserved for gRPC
            (b"grpc-metadata-", b"empty key"),
            (b"grpc-metadata-caf\xc3\xa9", b"non-ascii key"),
            (b"grpc-metadata-tab", b"a\tb"),  # not printable
            (b"x-forwarded-host", b"front.example"),
        ],
        None,
        RID,
    )
    assert md == [
        (b"x-request-id", RID),
        (b"blob-bin", base64.b64encode(raw)),
        (b"x-forwarded-host", b"front.example"),
    ]


def test_response_metadata_as_prefixed_headers() -> None:
    headers = metadata_headers(
        [
            (b"x-one", b"1"),
            (b"trace-bin", b"AP8"),  # unpadded on the wire: re-encoded padded
            (b"grpc-status-details-bin", b"AAAA"),  # rendered in the body instead
            (b"x-bad", b"a\x00b"),
        ],
        b"grpc-metadata-",
    )
    assert headers == [(b"grpc-metadata-x-one", b"1"), (b"grpc-metadata-trace-bin", b"AP8=")]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("5S", 5.0),
        ("100m", 0.1),
        ("2M", 120.0),
        ("1H", 3600.0),
        ("250u", 250e-6),
        ("12345678n", 0.012345678),
    ],
)
def test_grpc_timeout_header(value: str, seconds: float) -> None:
    assert parse_grpc_timeout(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["soon", "5", "S", "123456789S", "1.5S", "-1S", "5s"])
def test_malformed_grpc_timeout_is_a_bad_request(value: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_grpc_timeout(value)
    assert info.value.field == "Grpc-Timeout"


def test_printable_is_visible_ascii_and_space() -> None:
    assert printable(b"") and printable(b" !~azAZ09")
    assert not printable(b"\x7f") and not printable(b"a\tb") and not printable("é".encode())
