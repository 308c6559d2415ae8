"""The own client's read-only HPACK fast path (grpcwire/hpack_fast.py) decodes exactly what
`hpack.Decoder` decodes.

Sequences of header blocks mix every representation of RFC 7541: indexed fields (static and
dynamic), literals with incremental indexing, without indexing and never indexed (indexed or
new names, Huffman or not, lengths that need multi-byte integers) and table size updates. The
gateway's decoder (fast path with the library as fallback) must return what a plain
`hpack.Decoder` fed the same blocks returns, block after block, so the two tables stay in step.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import hpack
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colonnade.gateway.errors import ProtocolError
from colonnade.gateway.grpcwire.connection import Connection
from colonnade.gateway.grpcwire.hpack_fast import hpack_int, read_only_decode

HUFFMAN = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
STATIC = HeaderTable.STATIC_TABLE


def _int(value: int, bits: int, first: int) -> bytes:
    return hpack_int(value, bits, first)


def _string(data: bytes, huffman: bool) -> bytes:
    if huffman:
        coded = HUFFMAN.encode(data)
        return _int(len(coded), 7, 0x80) + coded
    return _int(len(data), 7, 0) + data


names = st.binary(min_size=1, max_size=20).map(lambda b: b.lower())
values = st.one_of(st.binary(max_size=20), st.binary(min_size=120, max_size=300))


@st.composite
def representation(draw: Any) -> tuple[str, Any]:
    kind = draw(
        st.sampled_from(
            ["static", "dynamic", "incremental", "without", "never", "without", "never"]
        )
    )
    if kind in ("static", "dynamic"):
        return kind, draw(st.integers(min_value=0, max_value=200))
    indexed_name = draw(st.booleans())
    return kind, (
        draw(st.integers(min_value=1, max_value=61)) if indexed_name else draw(names),
        draw(values),
        draw(st.booleans()),  # Huffman name
        draw(st.booleans()),  # Huffman value
    )


blocks = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(min_value=0, max_value=4096)),  # size update
        st.lists(representation(), min_size=1, max_size=8),
    ),
    min_size=1,
    max_size=8,
)


def encode(plan: Any, table_len: int) -> tuple[bytes, int]:
    """One block, and the dynamic table length an encoder would assume (approximate: the
    reference decoder decides what is valid; indexes are chosen inside its table)."""
    size_update, reps = plan
    out = b""
    if size_update is not None:
        out += _int(size_update, 5, 0x20)
    for kind, arg in reps:
        if kind == "static":
            out += _int(arg % 61 + 1, 7, 0x80)
        elif kind == "dynamic":
            if table_len:
                out += _int(62 + arg % table_len, 7, 0x80)
            else:
                out += _int(arg % 61 + 1, 7, 0x80)
        else:
            name, value, hn, hv = arg
            bits, first = {"incremental": (6, 0x40), "without": (4, 0x00), "never": (4, 0x10)}[kind]
            if isinstance(name, int):
                out += _int(name, bits, first)
            else:
                out += _int(0, bits, first) + _string(name, hn)
            out += _string(value, hv)
    return out, table_len


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks)
def test_fast_path_matches_hpack_decoder(plan: Any) -> None:
    ours = SimpleNamespace(decoder=hpack.Decoder(max_header_list_size=1 << 20))
    reference = hpack.Decoder(max_header_list_size=1 << 20)
    for block_plan in plan:
        block, _ = encode(block_plan, len(reference.header_table.dynamic_entries))
        try:
            expected = [(bytes(k), bytes(v)) for k, v in reference.decode(block, raw=True)]
        except hpack.HPACKError:
            with pytest.raises(ProtocolError):
                Connection._decode(ours, block)  # type: ignore[arg-type]
            return  # both decoders are now in an undefined state
        if block_plan[0] is None and all(kind != "incremental" for kind, _ in block_plan[1]):
            # nothing in it changes the table: the fast path alone must decode it
            fast = read_only_decode(block, ours.decoder.header_table)
            assert fast == expected
        got = Connection._decode(ours, block)  # type: ignore[arg-type]
        assert got == expected
        assert list(ours.decoder.header_table.dynamic_entries) == list(
            reference.header_table.dynamic_entries
        )


def test_fast_path_is_taken_for_non_indexing_blocks_and_declines_the_rest() -> None:
    table = hpack.Decoder().header_table
    long_value = b"v" * 200  # a length that needs a multi-byte integer
    block = (
        _int(8, 7, 0x80)  # :status 200
        + _int(0, 4, 0x00)
        + _string(b"x-request-id", True)
        + _string(long_value, False)
        + _int(31, 4, 0x10)  # never indexed, content-type name from the static table
        + _string(b"application/grpc", True)
    )
    assert read_only_decode(block, table) == [
        (b":status", b"200"),
        (b"x-request-id", long_value),
        (b"content-type", b"application/grpc"),
    ]
    assert read_only_decode(_int(0, 6, 0x40) + b"\x01a\x01b", table) is None
    assert read_only_decode(_int(100, 5, 0x20), table) is None  # size update
    assert read_only_decode(_int(70, 7, 0x80), table) is None  # not in the table
    assert read_only_decode(b"\x00\x05ab", table) is None  # truncated
    assert read_only_decode(b"\x80", table) is None  # index 0
