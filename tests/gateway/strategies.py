"""Hypothesis strategies that build any message of the conformance proto from its descriptor."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import descriptor, struct_pb2
from google.protobuf.message import Message
from hypothesis import strategies as st

FD = descriptor.FieldDescriptor

_INT_RANGES = {
    FD.TYPE_INT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FD.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: (0, 2**32 - 1),
    FD.TYPE_FIXED32: (0, 2**32 - 1),
    FD.TYPE_INT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: (0, 2**64 - 1),
    FD.TYPE_FIXED64: (0, 2**64 - 1),
}

json_leaf = (
    st.none()
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
snake = st.from_regex(r"[a-z][a-z0-9]{0,5}(_[a-z][a-z0-9]{0,4}){0,2}", fullmatch=True)


def scalar(fd: descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
    t = fd.type
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        return st.integers(lo, hi) | st.sampled_from([lo, hi, 0, 1, -1 if lo < 0 else 2])
    if t == FD.TYPE_DOUBLE:
        return st.floats(allow_nan=False)
    if t == FD.TYPE_FLOAT:
        # json_format cannot parse its own output for |x| > 3.4e38 (it compares the rounded
        # decimal with float32's max); test_jsonconv covers that edge on its own.
        return st.floats(allow_nan=False, width=32).filter(
            lambda x: abs(x) < 3.4e38 or math.isinf(x)
        )
    if t == FD.TYPE_BOOL:
        return st.booleans()
    if t == FD.TYPE_STRING:
        return st.text(max_size=12)
    if t == FD.TYPE_BYTES:
        return st.binary(max_size=12)
    if t == FD.TYPE_ENUM:
        numbers = [v.number for v in fd.enum_type.values]
        return st.sampled_from(numbers) | st.just(7)  # 7: an open enum's unknown number
    raise AssertionError(fd)


def _wkt(cls: type[Message], depth: int) -> st.SearchStrategy[Message] | None:
    name = cls.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        return st.builds(
            cls, seconds=st.integers(-62135596800, 253402300799), nanos=st.integers(0, 999_999_999)
        )
    if name == "google.protobuf.Duration":
        return st.integers(-315576000000, 315576000000).flatmap(
            lambda s: st.builds(
                cls,
                seconds=st.just(s),
                nanos=st.integers(0, 999_999_999)
                if s > 0
                else (
                    st.integers(-999_999_999, 0)
                    if s < 0
                    else st.integers(-999_999_999, 999_999_999)
                ),
            )
        )
    if name == "google.protobuf.FieldMask":
        return st.builds(
            cls,
            paths=st.lists(st.lists(snake, min_size=1, max_size=3).map(".".join), max_size=3),
        )
    if name == "google.protobuf.Struct":

        def mk_struct(d: dict[str, Any]) -> Message:
            m = cls()
            m.update(d)  # type: ignore[attr-defined]
            return m

        return st.dictionaries(st.text(max_size=5), json_value, max_size=3).map(mk_struct)
    if name == "google.protobuf.ListValue":

        def mk_list(v: list[Any]) -> Message:
            m = cls()
            m.extend(v)  # type: ignore[attr-defined]
            return m

        return st.lists(json_value, max_size=3).map(mk_list)
    if name == "google.protobuf.Value":

        def mk_value(v: Any) -> Message:
            s = struct_pb2.Struct()
            s.update({"v": v})
            out = cls()
            out.MergeFromString(s.fields["v"].SerializeToString())
            return out

        return json_value.map(mk_value)
    if name == "google.protobuf.Any":
        from conformance.v1 import conformance_pb2
        from google.protobuf import duration_pb2, timestamp_pb2, wrappers_pb2

        if depth > 2:
            return st.just(cls())

        def pack(m: Message) -> Message:
            a = cls()
            a.Pack(m, deterministic=True)  # type: ignore[attr-defined]
            return a

        inner = st.one_of(
            message(conformance_pb2.Inner, depth + 1),
            message(conformance_pb2.Thing, depth + 1),
            _wkt(timestamp_pb2.Timestamp, depth + 1),
            _wkt(duration_pb2.Duration, depth + 1),
            st.builds(wrappers_pb2.Int64Value, value=st.integers(-(2**63), 2**63 - 1)),
            _wkt(struct_pb2.Value, depth + 1),
        )
        return inner.map(pack)
    return None


def message(cls: type[Message], depth: int = 0) -> st.SearchStrategy[Message]:
    """Any message of `cls`, nesting at most a few levels deep."""
    special = _wkt(cls, depth)
    if special is not None:
        return special
    desc = cls.DESCRIPTOR
    parts: dict[str, st.SearchStrategy[Any]] = {}
    oneofs: dict[str, list[descriptor.FieldDescriptor]] = {}
    for fd in desc.fields:
        real_oneof = fd.containing_oneof is not None and len(fd.containing_oneof.fields) > 1
        if real_oneof:
            oneofs.setdefault(fd.containing_oneof.name, []).append(fd)
            continue
        parts[fd.name] = field_value(cls, fd, depth)
    for _name, fds in oneofs.items():
        choice = st.sampled_from([None, *[f.name for f in fds]])
        parts["__oneof__" + _name] = choice.flatmap(
            lambda n, fds=fds: (
                st.just(None)
                if n is None
                else field_value(cls, next(f for f in fds if f.name == n), depth).map(
                    lambda v, n=n: (n, v)
                )
            )
        )

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        m = cls()
        for key, strat in parts.items():
            if key.startswith("__oneof__"):
                pair = draw(strat)
                if pair is not None:
                    _assign(m, desc.fields_by_name[pair[0]], pair[1])
                continue
            if draw(st.integers(0, 2)) == 0:  # leave a third of the fields unset
                continue
            _assign(m, desc.fields_by_name[key], draw(strat))
        return m

    return build()


def field_value(
    cls: type[Message], fd: descriptor.FieldDescriptor, depth: int
) -> st.SearchStrategy[Any]:
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        kfd = fd.message_type.fields_by_name["key"]
        vfd = fd.message_type.fields_by_name["value"]
        return st.dictionaries(scalar(kfd), _single(cls, vfd, depth), max_size=3)
    if fd.is_repeated:
        if fd.message_type is not None and depth > 2:
            return st.just([])
        return st.lists(_single(cls, fd, depth), max_size=3)
    if fd.message_type is not None and depth > 2:
        return st.just(None)
    return _single(cls, fd, depth)


def _single(
    cls: type[Message], fd: descriptor.FieldDescriptor, depth: int
) -> st.SearchStrategy[Any]:
    if fd.message_type is not None:
        sub = _class_of(cls, fd)
        return message(sub, depth + 1)
    return scalar(fd)


def _class_of(cls: type[Message], fd: descriptor.FieldDescriptor) -> type[Message]:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(fd.message_type)


def _assign(m: Message, fd: descriptor.FieldDescriptor, value: Any) -> None:
    if value is None:
        return
    target = getattr(m, fd.name)
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        for k, v in value.items():
            if isinstance(v, Message):
                target[k].CopyFrom(v)
            else:
                target[k] = v
    elif fd.is_repeated:
        if fd.message_type is not None:
            for v in value:
                target.add().CopyFrom(v)
        else:
            target.extend(value)
    elif fd.message_type is not None:
        target.CopyFrom(value)
    else:
        setattr(m, fd.name, value)
