"""The compiled JSON converters against google.protobuf.json_format, both directions."""

from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import JsonError
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.jsonconv.wkt import enc_timestamp
from tests.gateway import strategies

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _strip_nulls(value: Any) -> Any:
    """Removes the `null` of unset message fields (grpc-gateway's EmitUnpopulated)."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _gw_message(registry: Registry, msg: Any) -> Any:
    return registry.message_class_by_name(msg.DESCRIPTOR.full_name)


def _canon(m: Any) -> bytes:
    """Deterministic bytes, with Any payloads re-serialized deterministically too.

    json_format.ParseDict packs Any without deterministic map order, so plain bytes may differ
    for equal messages.
    """
    cls = message_factory.GetMessageClass(
        descriptor_pool.Default().FindMessageTypeByName(m.DESCRIPTOR.full_name)
    )
    copy = cls.FromString(m.SerializeToString())
    _fix_any(copy)
    return copy.SerializeToString(deterministic=True)


def _fix_any(m: Any) -> None:
    if m.DESCRIPTOR.full_name == "google.protobuf.Any" and m.type_url:
        name = m.type_url.rsplit("/", 1)[-1]
        inner_cls = message_factory.GetMessageClass(
            descriptor_pool.Default().FindMessageTypeByName(name)
        )
        inner = inner_cls.FromString(m.value)
        _fix_any(inner)
        m.value = inner.SerializeToString(deterministic=True)
        return
    for fd, value in m.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is not None:
                for v in value.values():
                    _fix_any(v)
        elif fd.is_repeated:
            for v in value:
                _fix_any(v)
        else:
            _fix_any(value)


def _same(a: Any, b: Any) -> bool:
    return _canon(a) == _canon(b)


@pytest.fixture(scope="module")
def plain(registry: Registry) -> Converters:
    """Converters printing like MessageToDict (no unpopulated fields)."""
    return Converters(registry, emit_unpopulated=False)


def test_everything_encoder_equals_json_format(pb, registry, converters, plain) -> None:  # type: ignore[no-untyped-def]
    @SETTINGS
    @given(strategies.message(pb.Everything))
    def check(msg: Any) -> None:
        gw_msg = _gw_message(registry, msg).FromString(msg.SerializeToString())
        expected = json_format.MessageToDict(msg, always_print_fields_with_no_presence=False)
        assert plain.to_json(gw_msg) == expected
        full = json_format.MessageToDict(msg, always_print_fields_with_no_presence=True)
        assert _strip_nulls(converters.to_json(gw_msg)) == _strip_nulls(full)

    check()


def test_everything_decoder_equals_json_format(pb, registry, converters) -> None:  # type: ignore[no-untyped-def]
    desc = registry.pool.FindMessageTypeByName("conformance.v1.Everything")

    @SETTINGS
    @given(strategies.message(pb.Everything))
    def check(msg: Any) -> None:
        for proto_names in (False, True):
            js = json_format.MessageToDict(msg, preserving_proto_field_name=proto_names)
            assert _same(converters.from_json(desc, js), msg)
        # and the oracle parses what we print
        ours = converters.to_json(_gw_message(registry, msg).FromString(msg.SerializeToString()))
        assert _same(json_format.ParseDict(ours, pb.Everything()), msg)

    check()


def test_unset_message_prints_null_and_oneof_is_left_out(pb, registry, converters) -> None:  # type: ignore[no-untyped-def]
    out = converters.to_json(registry.message_class_by_name("conformance.v1.Everything")())
    assert out["fMessage"] is None
    assert out["wTimestamp"] is None
    assert out["fInt64"] == "0"
    assert out["fEnum"] == "COLOR_UNSPECIFIED"
    assert out["rString"] == [] and out["mString"] == {}
    assert "oString" not in out and "fOptional" not in out
    assert out["customName"] == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.nan, "NaN"), (math.inf, "Infinity"), (-math.inf, "-Infinity")],
)
def test_non_finite_doubles(registry, converters, value, expected) -> None:  # type: ignore[no-untyped-def]
    cls = registry.message_class_by_name("conformance.v1.Everything")
    out = converters.to_json(cls(f_double=value, f_float=value))
    assert out["fDouble"] == expected and out["fFloat"] == expected
    back = converters.from_json(cls.DESCRIPTOR, {"fDouble": expected})
    assert (math.isnan(back.f_double) and math.isnan(value)) or back.f_double == value


@pytest.mark.parametrize(
    ("body", "path", "reason"),
    [
        ({"fInt32": "abc"}, "fInt32", "expected an integer, got the string 'abc'"),
        ({"fInt32": 1.5}, "fInt32", "expected an integer"),
        ({"fInt32": 2**31}, "fInt32", "out of range"),
        ({"fUint64": -1}, "fUint64", "out of range"),
        ({"fBool": "true"}, "fBool", "expected true or false"),
        ({"fString": 5}, "fString", "expected a string"),
        ({"fBytes": "***"}, "fBytes", "not valid base64"),
        ({"fEnum": "COLOR_BLUE"}, "fEnum", "is not a value of conformance.v1.Color"),
        ({"fMessage": []}, "fMessage", "expected an object"),
        ({"fMessage": {"count": "x"}}, "fMessage.count", "expected an integer"),
        ({"rInt64": [1, "z"]}, "rInt64[1]", "expected an integer"),
        ({"rInt64": 3}, "rInt64", "expected an array"),
        ({"mInt": {"k": 1}}, "mInt['k']", "expected an integer"),
        ({"wTimestamp": "yesterday"}, "wTimestamp", "invalid Timestamp"),
        ({"wDuration": 3}, "wDuration", "expected a Duration string"),
        ({"oString": "a", "oInt64": 1}, "oInt64", "oneof choice are both set"),
        ({"fInt32": 1, "f_int32": 2}, "f_int32", "given twice"),
        ({"wAny": {"@type": "type.googleapis.com/no.Such"}}, "wAny.@type", "in no descriptor set"),
        ({"wAny": {"value": 1}}, "wAny.@type", 'needs a "@type"'),
        ({"fFloat": 1e39}, "fFloat", "out of range for a float"),
    ],
)
def test_decode_errors_name_the_field(registry, converters, body, path, reason) -> None:  # type: ignore[no-untyped-def]
    desc = registry.pool.FindMessageTypeByName("conformance.v1.Everything")
    with pytest.raises(JsonError) as err:
        converters.from_json(desc, body)
    assert err.value.path == path
    assert reason in err.value.reason
    if path in ("fBytes", "fMessage", "f_int32"):
        # json_format is laxer than Go's protojson here: its base64 decoder drops invalid
        # characters, it reads [] as an empty message and takes a field under both names.
        return
    # the oracle refuses the same input
    with pytest.raises(json_format.ParseError):
        json_format.ParseDict(body, registry.message_class(desc)(), descriptor_pool=registry.pool)


def test_unknown_fields_ignored_by_default_and_rejected_when_strict(registry) -> None:  # type: ignore[no-untyped-def]
    desc = registry.pool.FindMessageTypeByName("conformance.v1.Inner")
    assert Converters(registry).from_json(desc, {"note": "a", "bogus": 1}).note == "a"
    with pytest.raises(JsonError) as err:
        Converters(registry, ignore_unknown_fields=False).from_json(desc, {"bogus": 1}, "inner")
    assert err.value.path == "inner.bogus"


def test_null_is_default_but_value_null_is_kept(pb, registry, converters) -> None:  # type: ignore[no-untyped-def]
    desc = registry.pool.FindMessageTypeByName("conformance.v1.Everything")
    msg = converters.from_json(desc, {"fInt32": None, "fMessage": None, "wValue": None})
    assert not msg.HasField("f_message")
    assert msg.HasField("w_value") and msg.w_value.WhichOneof("kind") == "null_value"
    assert _same(
        msg,
        json_format.ParseDict({"fInt32": None, "fMessage": None, "wValue": None}, pb.Everything()),
    )


def test_unknown_any_type_is_kept_as_bytes(registry, converters) -> None:  # type: ignore[no-untyped-def]
    cls = registry.message_class_by_name("conformance.v1.Everything")
    msg = cls()
    msg.w_any.type_url = "type.googleapis.com/not.Loaded"
    msg.w_any.value = b"\x08\x01"
    assert converters.to_json(msg)["wAny"] == {
        "@type": "type.googleapis.com/not.Loaded",
        "value": "CAE=",
    }


def test_float32_max_round_trips(registry, converters) -> None:  # type: ignore[no-untyped-def]
    cls = registry.message_class_by_name("conformance.v1.Everything")
    out = converters.to_json(cls(f_float=3.4028234663852886e38))
    assert out["fFloat"] == 3.4028235e38
    assert converters.from_json(cls.DESCRIPTOR, out).f_float == 3.4028234663852886e38


@pytest.mark.parametrize(
    "text",
    [
        "1970-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "2024-02-29T12:00:00.5Z",
        "2024-05-06T07:08:09+02:00",  # offset: protobuf's parser
        "2023-02-29T00:00:00Z",  # invalid day: protobuf's parser refuses it
        "2024-13-01T00:00:00Z",
    ],
)
def test_timestamp_fast_path_agrees_with_protobuf(registry, converters, text) -> None:  # type: ignore[no-untyped-def]
    from google.protobuf import timestamp_pb2

    desc = registry.pool.FindMessageTypeByName("google.protobuf.Timestamp")
    expected = timestamp_pb2.Timestamp()
    try:
        expected.FromJsonString(text)
    except ValueError:
        with pytest.raises(JsonError):
            converters.from_json(desc, text)
        return
    got = converters.from_json(desc, text)
    assert (got.seconds, got.nanos) == (expected.seconds, expected.nanos)


@SETTINGS
@given(
    seconds=st.one_of(
        st.integers(-62135596800, 253402300799),
        st.sampled_from([-62135596801, 253402300800, 0, -1, 86399, 86400]),
    ),
    nanos=st.one_of(
        st.integers(0, 999_999_999),
        st.sampled_from([0, 1, 1000, 1_000_000, 500_000_000, 999_999_999, -1, 1_000_000_000]),
    ),
)
def test_timestamp_encoder_agrees_with_protobuf(seconds: int, nanos: int) -> None:
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
    try:
        expected = ts.ToJsonString()
    except ValueError:
        with pytest.raises(ValueError):
            enc_timestamp(ts)
        return
    assert enc_timestamp(ts) == expected


def _odd_names_registry() -> Registry:
    """A proto3 message whose field names are Python keywords, with a oneof and a map."""
    from google.protobuf import descriptor_pb2

    from colonnade.gateway.descriptors import build_registry

    fdp = descriptor_pb2.FileDescriptorProto(name="odd/v1/odd.proto", package="odd.v1")
    fdp.syntax = "proto3"
    msg = fdp.message_type.add(name="Odd")
    F = descriptor_pb2.FieldDescriptorProto
    entry = msg.nested_type.add(name="ClassEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    msg.oneof_decl.add(name="def")
    msg.field.add(name="from", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    msg.field.add(name="import", number=2, type=F.TYPE_INT64, label=F.LABEL_REPEATED)
    msg.field.add(
        name="class",
        number=3,
        type=F.TYPE_MESSAGE,
        type_name=".odd.v1.Odd.ClassEntry",
        label=F.LABEL_REPEATED,
    )
    msg.field.add(
        name="lambda", number=4, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0
    )
    msg.field.add(
        name="yield", number=5, type=F.TYPE_MESSAGE, type_name=".odd.v1.Odd", oneof_index=0
    )
    return build_registry([descriptor_pb2.FileDescriptorSet(file=[fdp])])


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"from": "x", "import": [1, -2], "class": {"a": 3}},
        {"lambda": "l"},
        {"yield": {"from": "inner"}},
    ],
)
def test_generated_encoder_handles_keyword_field_names(fields: dict[str, Any]) -> None:
    reg = _odd_names_registry()
    cls = reg.message_class_by_name("odd.v1.Odd")
    msg = cls(**fields)
    conv = Converters(reg)
    full = json_format.MessageToDict(msg, always_print_fields_with_no_presence=True)
    assert _strip_nulls(conv.to_json(msg)) == _strip_nulls(full)
    assert conv.to_json(msg)["from"] == fields.get("from", "")
    # and back again
    assert conv.from_json(cls.DESCRIPTOR, conv.to_json(msg)) == msg
