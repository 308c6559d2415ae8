"""HTTP headers <-> gRPC metadata, as grpc-gateway's runtime does by default.

In: `Authorization`; `Grpc-Metadata-<k>` as `<k>` (`-bin` keys base64-decoded); the IANA
permanent request headers as `grpcgateway-<name>`; `X-Request-Id`, `traceparent` and
`tracestate` as they are; `X-Forwarded-For` with the client's address appended and
`X-Forwarded-Host` from `Host` when absent. Out: header metadata as `Grpc-Metadata-<k>`,
trailer metadata as `Grpc-Trailer-<k>` HTTP trailers when the client sent `TE: trailers`.
"""

from __future__ import annotations

import base64
import binascii
import re

from colonnade.gateway.errors import BadRequest
from colonnade.gateway.metadata import decode_binary

# IANA "permanent" message headers grpc-gateway forwards with a `grpcgateway-` prefix.
PERMANENT = frozenset(
    h.encode()
    for h in [
        "accept",
        "accept-charset",
        "accept-language",
        "accept-ranges",
        "cache-control",
        "content-type",
        "cookie",
        "date",
        "expect",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-schedule-tag-match",
        "if-unmodified-since",
        "max-forwards",
        "origin",
        "pragma",
        "referer",
        "user-agent",
        "via",
        "warning",
    ]
)
PASS_THROUGH = frozenset({b"x-request-id", b"traceparent", b"tracestate", b"authorization"})
_KEY_OK = re.compile(rb"[0-9a-z_.\-]+\Z")
_PRINTABLE = bytes(range(0x20, 0x7F))
_TIMEOUT = re.compile(r"(\d{1,8})([HMSmun])\Z")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_grpc_timeout(value: str) -> float:
    """Seconds of a `Grpc-Timeout` header (`<digits><H|M|S|m|u|n>`); 400 when malformed."""
    m = _TIMEOUT.match(value.strip())
    if m is None:
        raise BadRequest(
            "Grpc-Timeout",
            f"{value!r} is not a gRPC timeout (1 to 8 digits and a unit H, M, S, m, u or n)",
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def printable(value: bytes) -> bool:
    """Printable ASCII only: what may go into gRPC metadata and back into HTTP headers."""
    # Deleting every printable byte leaves nothing: one C call, no regular expression.
    return not value.translate(None, _PRINTABLE)


def outgoing_metadata(
    headers: list[tuple[bytes, bytes]], client: str | None, request_id: bytes
) -> list[tuple[bytes, bytes]]:
    """The call metadata (wire form) for the request headers; invalid keys and values skipped.

    (Printable values are tested inline, `not value.translate(None, _PRINTABLE)`: this runs
    for every request header, and a function call per header is measurable.)
    """
    md: list[tuple[bytes, bytes]] = [(b"x-request-id", request_id)]
    xff: bytes | None = None
    xfh: bytes | None = None
    host: bytes | None = None
    for name, value in headers:
        if name in PASS_THROUGH:
            # the request id is already first
            if name != b"x-request-id" and not value.translate(None, _PRINTABLE):
                md.append((name, value))
        elif name.startswith(b"grpc-metadata-"):
            key = name[14:]
            if not key or not _KEY_OK.match(key) or key.startswith(b"grpc-"):
                continue
            if key.endswith(b"-bin"):
                try:  # normalized: HTTP clients send base64 padded or not, with or without -_
                    raw = base64.b64decode(value + b"=" * (-len(value) % 4), altchars=b"-_")
                except (binascii.Error, ValueError):
                    continue
                md.append((key, base64.b64encode(raw)))
            elif not value.translate(None, _PRINTABLE):
                md.append((key, value))
        elif name in PERMANENT:
            if not value.translate(None, _PRINTABLE):
                md.append((b"grpcgateway-" + name, value))
                if name == b"host":
                    host = value
        elif name == b"x-forwarded-for":
            xff = value if not value.translate(None, _PRINTABLE) else None
        elif name == b"x-forwarded-host":
            xfh = value if not value.translate(None, _PRINTABLE) else None
    if client:
        c = client.encode("ascii", "replace")
        md.append((b"x-forwarded-for", xff + b", " + c if xff else c))
    elif xff:
        md.append((b"x-forwarded-for", xff))
    if xfh or host:
        md.append((b"x-forwarded-host", xfh or host or b""))
    return md


def metadata_headers(
    metadata: list[tuple[bytes, bytes]], prefix: bytes
) -> list[tuple[bytes, bytes]]:
    """`<prefix><key>: value` headers for response metadata (wire form; `-bin` values base64).

    Values that are not printable ASCII are dropped rather than written into an HTTP header.
    """
    out: list[tuple[bytes, bytes]] = []
    for key, value in metadata:
        if key == b"grpc-status-details-bin":
            continue  # rendered as the error body's details
        if key.endswith(b"-bin"):
            try:
                value = base64.b64encode(decode_binary(value))
            except (binascii.Error, ValueError):
                continue
        elif value.translate(None, _PRINTABLE):  # not printable
            continue
        out.append((prefix + key, value))
    return out
