"""Query parameters into request messages (transcode.py), as grpc-gateway v2 reads them."""

from __future__ import annotations

import pytest

from colonnade.gateway.errors import BadRequest
from tests.gateway.unit.conftest import Builder


def echo(builder: Builder, query: str, *, strict: bool = False):  # type: ignore[no-untyped-def]
    return builder("Echo", "GET", strict=strict).build([], query, None)


def test_scalars_by_json_or_proto_name_nested_and_repeated(builder: Builder) -> None:
    m = echo(
        builder,
        "fInt32=-3&f_int64=9007199254740993&fString=h%C3%A9&fMessage.note=n"
        "&f_message.child.count=4&rInt64=1&rInt64=2&customName=c",
    )
    assert m.f_int32 == -3 and m.f_int64 == 9007199254740993 and m.f_string == "hé"
    assert m.f_message.note == "n" and m.f_message.child.count == 4
    assert list(m.r_int64) == [1, 2] and m.json_named == "c"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("t", True), ("1", True), ("0", False), ("F", False)],
)
def test_bools_as_go_parse_bool(builder: Builder, value: str, expected: bool) -> None:
    assert echo(builder, f"fBool={value}").f_bool is expected


def test_enums_by_name_or_number_bytes_in_either_base64(builder: Builder) -> None:
    assert echo(builder, "fEnum=COLOR_RED").f_enum == echo(builder, "fEnum=1").f_enum == 1
    assert echo(builder, "fBytes=-_8").f_bytes == echo(builder, "fBytes=%2B%2F8%3D").f_bytes


def test_well_known_types_from_their_string_forms(builder: Builder) -> None:
    m = echo(
        builder,
        "wTimestamp=2024-05-06T07:08:09.5Z&wDuration=1.5s&wFieldMask=fInt32,fMessage.note"
        "&wInt64=12&wBool=false&wStruct=%7B%22a%22%3A1%7D",
    )
    assert m.w_timestamp.seconds == 1714979289 and m.w_timestamp.nanos == 500_000_000
    assert m.w_duration.seconds == 1 and m.w_duration.nanos == 500_000_000
    assert list(m.w_field_mask.paths) == ["f_int32", "f_message.note"]
    assert m.w_int64.value == 12 and m.HasField("w_bool") and m.w_bool.value is False
    assert m.w_struct["a"] == 1


def test_map_entries_one_parameter_each(builder: Builder) -> None:
    m = echo(builder, "mString%5Bcolor%5D=blue&mString[size]=L&m_int[7]=-9&mEnum[3]=COLOR_RED")
    assert dict(m.m_string) == {"color": "blue", "size": "L"}
    assert dict(m.m_int) == {7: -9} and dict(m.m_enum) == {3: 1}


@pytest.mark.parametrize(
    ("query", "field", "why"),
    [
        ("fInt32=abc", "f_int32", "expected an integer"),
        ("fInt32=1&fInt32=2", "f_int32", "is not repeated but was given 2 values"),
        ("fBool=yes", "f_bool", "is not a boolean"),
        ("fBytes=%25%25", "f_bytes", "not valid base64"),
        ("wStruct=%7Bbad", "w_struct", "is not JSON"),
        ("fMessage=x", "fMessage", "a message field cannot be set"),
        ("mInt[1]=1&mInt[1]=2", "m_int", "map key '1' was given 2 values"),
        ("mMessage[true]=x", "m_message", "a map of messages cannot be set"),
        ("fInt32[a]=1", "f_int32", "is not a map field"),
    ],
)
def test_bad_parameters_are_bad_requests_naming_the_field(
    builder: Builder, query: str, field: str, why: str
) -> None:
    with pytest.raises(BadRequest) as info:
        echo(builder, query)
    assert info.value.field == field and why in info.value.reason
    assert info.value.http == 400 and info.value.code == 3


def test_unknown_and_unsettable_parameters_are_ignored_unless_strict(builder: Builder) -> None:
    m = echo(builder, "nope=1&rMessage=x&mString=x&nope[k]=1&fInt32=2")
    assert m.f_int32 == 2 and not m.r_message and not m.m_string
    for query, why in [
        ("nope=1", "unknown query parameter"),
        ("rMessage=x", "repeated messages cannot be query parameters"),
        ("mString=x", "name[key]=value"),
    ]:
        with pytest.raises(BadRequest) as info:
            echo(builder, query, strict=True)
        assert why in info.value.message


def test_fields_bound_by_the_path_or_body_are_not_read_from_the_query(builder: Builder) -> None:
    thing = builder("GetThing", "GET").build(["7"], "id=other", None)
    assert thing.id == "7"
    with pytest.raises(BadRequest, match="is bound by the path or the body"):
        builder("GetThing", "GET", strict=True).build(["7"], "id=other", None)
    created = builder("CreateThing", "POST").build([], "name=ignored", {"name": "n"})
    assert created.name == "n"  # body "*": the query string is not read
