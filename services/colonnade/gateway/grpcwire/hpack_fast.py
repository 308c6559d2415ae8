"""HPACK (RFC 7541) on the client's hot path: request header blocks built without the dynamic
table, and a read-only decoder for response blocks that leave the table unchanged.

Encoding: every field the client sends is a literal "without indexing" (6.2.2), so the
server's view of our table never changes and no encoder state is kept. Decoding: gRPC servers
send, once warm, header blocks made only of indexed fields and non-indexing literals;
`hpack`'s general decoder costs ~10 µs per block in pure Python, the loop below a fraction of
that. A block that inserts into the table, resizes it, or does not parse goes to the library
(`Connection._decode`), which keeps the table in step and reports errors.

`hpack` internals used: `HeaderTable.STATIC_TABLE` and `get_by_index`, and
`huffman_table.decode_huffman`; hence the `hpack<5` pin (pyproject.toml). The property test
(tests/gateway/grpcwire/test_hpack_fast.py) checks this decoder against `hpack.Decoder`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hpack
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

#: The largest header list this client accepts (announced in SETTINGS_MAX_HEADER_LIST_SIZE).
MAX_HEADER_LIST = 256 * 1024

STATIC: tuple[tuple[bytes, bytes], ...] = tuple(HeaderTable.STATIC_TABLE)
# Static table indices of the names the client sends (RFC 7541 appendix A).
AUTHORITY, PATH, CONTENT_TYPE, USER_AGENT = 1, 4, 31, 58
METHOD_POST, SCHEME_HTTP = b"\x83", b"\x86"  # indexed :method POST and :scheme http


def hpack_int(value: int, prefix_bits: int, first: int) -> bytes:
    """An HPACK integer with an N-bit prefix (5.1); `first` holds the pattern bits above it."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name_index: int, value: bytes) -> bytes:
    """Literal header field without indexing, name from the static table (6.2.2)."""
    return hpack_int(name_index, 4, 0) + hpack_int(len(value), 7, 0) + value


def literal_new(name: bytes, value: bytes) -> bytes:
    """Literal header field without indexing, new name: the dynamic table is never used."""
    return b"\x00" + hpack_int(len(name), 7, 0) + name + hpack_int(len(value), 7, 0) + value


def encode_timeout(seconds: float) -> bytes:
    """A `grpc-timeout` value: at most 8 digits, rounded up so the server never waits less."""
    micros = max(1, -int(-seconds * 1e6 // 1))
    for unit, size in ((b"u", 1), (b"m", 1_000), (b"S", 1_000_000), (b"M", 60_000_000)):
        n = -(-micros // size)
        if n < 100_000_000:
            return b"%d%s" % (n, unit)
    return b"%d%s" % (min(99_999_999, -(-micros // 3_600_000_000)), b"H")


class RequestHeaders:
    """The header blocks of one connection's calls: the fixed part computed once per path.

    Pseudo-headers must precede regular ones (RFC 9113 section 8.3): `:method`, `:scheme`,
    then `:path` per call, then `:authority` and the fixed regular headers, then the call's
    `grpc-timeout` and metadata.
    """

    def __init__(self, authority: bytes, user_agent: bytes) -> None:
        self.after_path = (
            literal(AUTHORITY, authority)
            + literal(CONTENT_TYPE, b"application/grpc")
            + literal_new(b"te", b"trailers")
            + literal(USER_AGENT, user_agent)
        )
        self.path_blocks: dict[str, bytes] = {}

    def block(
        self, path: str, timeout: float | None, metadata: Sequence[tuple[bytes, bytes]]
    ) -> bytes:
        """The header block of a call."""
        block = self.path_blocks.get(path)
        if block is None:
            block = METHOD_POST + SCHEME_HTTP + literal(PATH, path.encode()) + self.after_path
            if len(self.path_blocks) < 1024:
                self.path_blocks[path] = block
        parts = [block]
        if timeout is not None:
            parts.append(literal_new(b"grpc-timeout", encode_timeout(timeout)))
        for k, v in metadata:
            parts.append(literal_new(k, v))
        return b"".join(parts)


def _int_at(block: bytes, i: int, value: int) -> tuple[int, int]:
    """Continues an HPACK integer whose prefix was all ones; (value, next index)."""
    shift = 0
    while True:
        b = block[i]  # IndexError on a truncated block: the caller falls back
        i += 1
        value += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i
        if shift > 28:
            raise IndexError("HPACK integer too long")


def _string_at(block: bytes, i: int) -> tuple[bytes, int]:
    b = block[i]
    size = b & 0x7F
    i += 1
    if size == 0x7F:
        size, i = _int_at(block, i, size)
    end = i + size
    if end > len(block):
        raise IndexError("HPACK string past the end of the block")
    raw = block[i:end]
    return (decode_huffman(raw) if b & 0x80 else raw), end


def read_only_decode(block: bytes, table: Any) -> list[tuple[bytes, bytes]] | None:
    """Decodes a header block that leaves the HPACK table unchanged: indexed fields and
    literals without indexing or never indexed (RFC 7541 6.1, 6.2.2, 6.2.3). Returns None
    when the block inserts into the table, resizes it, or does not parse, so that the
    library decodes it (and keeps the table in step) or reports the error.
    """
    out: list[tuple[bytes, bytes]] = []
    static = STATIC
    i, n = 0, len(block)
    size = 0  # RFC 9113 header list size; a few bytes can index large table entries
    try:
        while i < n:
            b = block[i]
            if b & 0x80:  # indexed field
                index = b & 0x7F
                i += 1
                if index == 0x7F:
                    index, i = _int_at(block, i, index)
                if index == 0:
                    return None
                field = static[index - 1] if index <= 61 else table.get_by_index(index)
                out.append(field)
                size += len(field[0]) + len(field[1]) + 32
            elif b & 0xE0 == 0:  # literal without indexing (0000) or never indexed (0001)
                index = b & 0x0F
                i += 1
                if index == 0x0F:
                    index, i = _int_at(block, i, index)
                if index:
                    name = static[index - 1][0] if index <= 61 else table.get_by_index(index)[0]
                else:
                    name, i = _string_at(block, i)
                value, i = _string_at(block, i)
                out.append((name, value))
                size += len(name) + len(value) + 32
            else:  # incremental indexing or a table size update
                return None
    except (IndexError, hpack.HPACKError):
        return None
    return out if size <= MAX_HEADER_LIST else None  # over the limit: the library refuses it
