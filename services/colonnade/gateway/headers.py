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

from colonnade.gateway.errors import bad_request

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
# Response metadata that is transport, not application data.
_SKIP_OUT = frozenset({"content-type", "grpc-status", "grpc-message", "grpc-status-details-bin"})
_TIMEOUT = re.compile(r"(\d{1,8})([HMSmun])\Z")
_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_grpc_timeout(value: str) -> float:
    """Seconds of a `Grpc-Timeout` header (`<digits><H|M|S|m|u|n>`); 400 when malformed."""
    m = _TIMEOUT.match(value.strip())
    if m is None:
        raise bad_request(
            "Grpc-Timeout",
            f"{value!r} is not a gRPC timeout (1 to 8 digits and a unit H, M, S, m, u or n)",
        )
    return int(m.group(1)) * _UNITS[m.group(2)]


def _ascii(value: bytes) -> str | None:
    try:
        text = value.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text.isprintable() else None


def outgoing_metadata(
    headers: list[tuple[bytes, bytes]], client: str | None, request_id: str
) -> list[tuple[str, str | bytes]]:
    """The call metadata for the request headers (invalid keys and non-ASCII values skipped)."""
    md: list[tuple[str, str | bytes]] = [("x-request-id", request_id)]
    xff: str | None = None
    xfh: str | None = None
    host: str | None = None
    for name, value in headers:
        if name in PASS_THROUGH:
            if name == b"x-request-id":
                continue  # already first, possibly generated
            text = _ascii(value)
            if text is not None:
                md.append((name.decode(), text))
            continue
        if name.startswith(b"grpc-metadata-"):
            key = name[14:]
            if not key or not _KEY_OK.match(key) or key.startswith(b"grpc-"):
                continue
            if key.endswith(b"-bin"):
                try:
                    md.append((key.decode(), base64.b64decode(value, validate=False)))
                except (binascii.Error, ValueError):
                    continue
            else:
                text = _ascii(value)
                if text is not None:
                    md.append((key.decode(), text))
        elif name in PERMANENT:
            text = _ascii(value)
            if text is not None:
                md.append(("grpcgateway-" + name.decode(), text))
                if name == b"host":
                    host = text
        elif name == b"x-forwarded-for":
            xff = _ascii(value)
        elif name == b"x-forwarded-host":
            xfh = _ascii(value)
    if client:
        md.append(("x-forwarded-for", f"{xff}, {client}" if xff else client))
    elif xff:
        md.append(("x-forwarded-for", xff))
    if xfh or host:
        md.append(("x-forwarded-host", xfh or host or ""))
    return md


def metadata_headers(metadata: object, prefix: bytes) -> list[tuple[bytes, bytes]]:
    """`<prefix><key>: value` headers for response metadata (binary values in base64)."""
    out: list[tuple[bytes, bytes]] = []
    if not metadata:
        return out
    for key, value in metadata:  # type: ignore[attr-defined]
        if key in _SKIP_OUT:
            continue
        if isinstance(value, bytes):
            v = base64.b64encode(value)
        else:
            v = value.encode("latin-1", "replace")
        out.append((prefix + key.encode("ascii", "replace"), v))
    return out
