"""The request body of a client stream cut into JSON values (streams.JsonValues), as Go's
json.Decoder reads grpc-gateway's streaming bodies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from colonnade.gateway.errors import BadRequest, ContentTooLarge
from colonnade.gateway.streams import JsonValues


def _cut(data: bytes, size: int, limit: int = 1 << 20) -> list[bytes]:
    values = JsonValues(limit)
    out: list[bytes] = []
    for i in range(0, len(data), size):
        out += values.feed(data[i : i + size])
    return out + values.close()


def test_newline_delimited_concatenated_and_any_whitespace() -> None:
    data = b'{"a":1}\n{"b":[1,{"c":"}"}]}{"d":"\\"{"} \r\n\t[1,2] "s" 12 true null'
    expected = [b'{"a":1}', b'{"b":[1,{"c":"}"}]}', b'{"d":"\\"{"}', b"[1,2]", b'"s"']
    expected += [b"12", b"true", b"null"]
    for size in (1, 2, 3, 7, len(data)):
        assert _cut(data, size) == expected


def test_an_empty_or_blank_body_is_an_empty_stream() -> None:
    assert _cut(b"", 1) == [] and _cut(b" \n\n ", 1) == []


def test_a_body_ending_inside_a_value_is_400() -> None:
    with pytest.raises(BadRequest, match="ends inside a JSON value"):
        _cut(b'{"a":1}{"b":', 4)


def test_one_value_over_the_limit_is_413_the_stream_is_not_limited() -> None:
    assert len(_cut(b'{"a":1}\n' * 1000, 64, limit=16)) == 1000
    big = b'{"a":"' + b"x" * 100 + b'"}'
    for size in (10, len(big)):  # across chunks, or whole in one chunk
        with pytest.raises(ContentTooLarge):
            _cut(big, size, limit=64)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.lists(st.dictionaries(st.text(), _json, max_size=3), max_size=5),
    st.integers(1, 9),
    st.sampled_from(["", "\n", " \r\n"]),
)
def test_any_objects_any_chunking(objects: list[object], size: int, sep: str) -> None:
    data = sep.join(json.dumps(o) for o in objects).encode()
    assert [json.loads(v) for v in _cut(data, size)] == objects
