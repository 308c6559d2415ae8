"""Bodies and path values into request messages (transcode.py): order of population, strict
collisions, PATCH masks from the body, HttpBody pass-through, JSON errors."""

from __future__ import annotations

import pytest

from colonnade.gateway.errors import BadRequest
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.transcode import RequestBuilder, field_mask_paths, parse_json_body
from tests.gateway.unit.conftest import Builder


def test_body_star_maps_the_whole_message(builder: Builder) -> None:
    m = builder("CreateThing", "POST").build([], "", {"id": "1", "size": "5", "color": 1})
    assert (m.id, m.size, m.color) == ("1", 5, 1)


def test_a_body_field_then_the_path_which_wins(builder: Builder) -> None:
    m = builder("UpdateThing", "PATCH").build(["p"], "", {"id": "other", "name": "n"})
    assert m.thing.id == "p" and m.thing.name == "n"  # body, query, then path (grpc-gateway)
    with pytest.raises(BadRequest, match="is bound by the URL path") as info:
        builder("UpdateThing", "PATCH", strict=True).build(["p"], "", {"id": "other"})
    assert info.value.field == "thing.id"


def test_patch_mask_from_the_body_unless_the_client_sent_one(builder: Builder) -> None:
    patch = builder("UpdateThing", "PATCH")
    m = patch.build(["p"], "", {"name": "n", "inner": {"note": "x", "child": {}}, "tags": []})
    assert list(m.update_mask.paths) == ["name", "inner.note", "tags"]  # repeated last
    m = patch.build(["p"], "updateMask=size", {"name": "n"})
    assert list(m.update_mask.paths) == ["size"]
    m = builder("UpdateThing", "PUT").build(["p"], "", {"thing": {"name": "n"}})
    assert list(m.update_mask.paths) == []  # only PATCH with a body field builds a mask


def test_field_mask_paths_walks_messages_only(registry) -> None:  # type: ignore[no-untyped-def]
    everything = registry.pool.FindMessageTypeByName("conformance.v1.Everything")
    body = {
        "fMessage": {"note": "n", "child": {"count": 1}},
        "rInt32": [1],
        "mString": {"a": "b"},
        "wStruct": {"k": 1},
        "wTimestamp": "2024-01-01T00:00:00Z",
        "bogus": 1,
        "f_string": "proto names too",
    }
    assert field_mask_paths(body, everything) == [
        "f_message.note",
        "f_message.child.count",
        "w_struct.k",
        "w_timestamp",
        "f_string",
        "r_int32",
        "m_string",
    ]


def test_field_mask_paths_descend_into_struct_and_value_keys(registry) -> None:  # type: ignore[no-untyped-def]
    # grpc-gateway's published example (TestEchoPatch): the mask walks the JSON keys under
    # google.protobuf.Struct and Value fields (runtime/fieldmask.go, buildPathsBlindly).
    dynamic = registry.pool.FindMessageTypeByName("conformance.v1.DynamicMessage")
    body = {
        "struct_field": {"struct_key": {"layered_struct_key": "struct_val"}},
        "value_field": {"value_struct_key": "value_struct_val"},
    }
    assert sorted(field_mask_paths(body, dynamic)) == [
        "struct_field.struct_key.layered_struct_key",
        "value_field.value_struct_key",
    ]
    # Leaves are whatever is not an object; a Value that is not an object is the field
    # itself; an empty object adds nothing (as buildPathsBlindly does); JSON names work too.
    body = {"structField": {"a": [1, {"b": 2}], "c": {}, "d": {"e": None}}, "valueField": 3}
    assert field_mask_paths(body, dynamic) == ["struct_field.a", "struct_field.d.e", "value_field"]


def test_repeated_path_variables_split_on_commas(registry, routes) -> None:  # type: ignore[no-untyped-def]
    one, two = (r for r in routes if r.method == "GetMany")
    conv = Converters(registry)
    m = RequestBuilder(one, registry, conv, strict=False).build(["a,b,,c"], "", None)
    assert list(m.ids) == ["a", "b", "", "c"]  # Go's strings.Split keeps empty items
    both = RequestBuilder(two, registry, conv, strict=False)
    m = both.build(["x", "1,-2"], "", {"ids": ["body"]})
    assert (list(m.ids), list(m.sizes)) == (["x"], [1, -2])
    with pytest.raises(BadRequest) as info:
        both.build(["x", "1,z"], "", None)
    assert info.value.field == "sizes"


def test_http_body_request_passes_bytes_through(builder: Builder) -> None:
    m = builder("Upload", "POST").build_http_body(["b1"], "", b"\x00raw", "application/x-thing")
    assert m.name == "b1"
    assert m.data.data == b"\x00raw" and m.data.content_type == "application/x-thing"


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        ({"size": "big"}, "size", "expected an integer"),
        ({"color": "PINK"}, "color", "is not a value"),
        ({"tags": "a"}, "tags", "expected an array"),
        ({"inner": {"count": True}}, "inner.count", "expected an integer"),
        ([1], "", "expected an object"),
    ],
)
def test_wrong_json_types_name_the_field(
    builder: Builder, body: object, field: str, why: str
) -> None:
    with pytest.raises(BadRequest) as info:
        builder("CreateThing", "POST").build([], "", body)
    assert info.value.field == field and why in info.value.reason


def test_path_values_are_parsed_for_their_field(builder: Builder) -> None:
    assert builder("Fail", "GET").build(["7"], "", None).code == 7
    with pytest.raises(BadRequest) as info:
        builder("Fail", "GET").build(["seven"], "", None)
    assert info.value.field == "code"


def test_json_bodies() -> None:
    assert parse_json_body(b"") is None and parse_json_body(b" \n") is None
    assert parse_json_body(b'{"a": [1]}') == {"a": [1]}
    with pytest.raises(BadRequest, match="the request body is not valid JSON"):
        parse_json_body(b"{nope")
