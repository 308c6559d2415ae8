"""gRPC metadata in wire form, as both gRPC clients and the header rules exchange it.

Wire form is a list of `(key, value)` byte pairs: lowercase ASCII keys, printable ASCII
values, and base64 values for keys ending in `-bin` (PROTOCOL-HTTP2.md). Keeping the wire form
end to end means the gateway never decodes a value it only passes along.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

Metadata = list[tuple[bytes, bytes]]


def encode_metadata(metadata: Sequence[tuple[str, str | bytes]]) -> Metadata:
    """Wire form of `(key, value)` metadata: `-bin` values base64, text values ASCII."""
    out: Metadata = []
    for key, value in metadata:
        k = key.lower().encode("ascii")
        if isinstance(value, bytes):
            if not k.endswith(b"-bin"):
                raise ValueError(f"metadata {key!r}: binary values need a key ending in -bin")
            out.append((k, base64.b64encode(value)))
        else:
            out.append((k, value.encode("ascii")))
    return out


def decode_binary(value: bytes) -> bytes:
    """A `-bin` metadata value from the wire (padded or not)."""
    return base64.b64decode(value + b"=" * (-len(value) % 4))
