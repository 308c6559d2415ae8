"""Proto3 JSON converters compiled per message type.

`google.protobuf.json_format` walks descriptors with reflection on every call; here each message
type is walked once, and every field gets a small closure that knows its JSON name, kind and
value conversion; with `emit_unpopulated` (the gateway's default) each message type's encoder
is Python source generated from the descriptor and compiled with exec, one dict literal per
message. Encoding produces plain Python values for orjson; decoding builds the message with one
constructor call per (sub)message. `json_format` stays the oracle: the property tests in
tests/gateway compare both directions on generated messages.

Output follows grpc-gateway v2's default marshaler (protojson with `EmitUnpopulated`): every
field without presence is printed with its default, unset singular message fields print `null`,
unset oneof members (and proto3 `optional` fields) are left out. With `emit_unpopulated=False`
the output equals `json_format.MessageToDict`.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import datetime
import keyword
import math
import re
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor
from google.protobuf.internal import type_checkers
from google.protobuf.message import Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import JsonError

FD = descriptor.FieldDescriptor
Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, str], Any]

_INT32_TYPES = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
_UINT32_TYPES = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
_INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
_UINT64_TYPES = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
_RANGES = {
    **dict.fromkeys(_INT32_TYPES, (-(2**31), 2**31 - 1)),
    **dict.fromkeys(_UINT32_TYPES, (0, 2**32 - 1)),
    **dict.fromkeys(_INT64_TYPES, (-(2**63), 2**63 - 1)),
    **dict.fromkeys(_UINT64_TYPES, (0, 2**64 - 1)),
}
# Largest double that still rounds to a finite float32 (max float32 + half an ulp).
_FLOAT_MAX = 3.4028235677973366e38

WRAPPERS = {
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.BoolValue",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
}
# Types whose JSON form is not an object with their fields ("special" in Any: under "value").
SPECIAL_JSON = WRAPPERS | {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
}
# Types whose JSON form is a string; convenient for query parameters.
STRING_FORM = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
}


def _mt(fd: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    """The message type of a message field (typed: the stubs say Optional)."""
    mt = fd.message_type
    assert mt is not None, fd.full_name
    return mt


def _et(fd: descriptor.FieldDescriptor) -> descriptor.EnumDescriptor:
    """The enum type of an enum field."""
    et = fd.enum_type
    assert et is not None, fd.full_name
    return et


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ---------------------------------------------------------------------------------- encoding


def _enc_float(v: float) -> Any:
    if v - v == 0:
        return type_checkers.ToShortestFloat(v)
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def _enc_double(v: float) -> Any:
    if v - v == 0:
        return v
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def _enc_bytes(v: bytes) -> str:
    return binascii.b2a_base64(v, newline=False).decode("ascii")


def _map_key_encoder(fd: descriptor.FieldDescriptor) -> Encoder:
    if fd.type == FD.TYPE_BOOL:
        return lambda k: "true" if k else "false"
    return str


# ---------------------------------------------------------------------------------- decoding


def _dec_int(fd: descriptor.FieldDescriptor) -> Decoder:
    lo, hi = _RANGES[fd.type]

    def dec(v: Any, path: str) -> int:
        if isinstance(v, bool):
            raise JsonError(path, f"expected an integer, got {_describe(v)}")
        if isinstance(v, int):
            n = v
        elif isinstance(v, float):
            if not v.is_integer():
                raise JsonError(path, f"expected an integer, got {_describe(v)}")
            n = int(v)
        elif isinstance(v, str):
            try:
                n = int(v)
            except ValueError:
                try:
                    f = float(v)
                except ValueError:
                    f = math.nan
                if not f.is_integer():
                    raise JsonError(path, f"expected an integer, got {_describe(v)}") from None
                n = int(f)
        else:
            raise JsonError(path, f"expected an integer, got {_describe(v)}")
        if n < lo or n > hi:
            raise JsonError(path, f"{n} is out of range [{lo}, {hi}]")
        return n

    return dec


def _dec_floating(fd: descriptor.FieldDescriptor) -> Decoder:
    is_float = fd.type == FD.TYPE_FLOAT

    def dec(v: Any, path: str) -> float:
        if isinstance(v, bool):
            raise JsonError(path, f"expected a number, got {_describe(v)}")
        if isinstance(v, (int, float)):
            f = float(v)
        elif isinstance(v, str):
            if v == "NaN":
                return math.nan
            if v == "Infinity":
                return math.inf
            if v == "-Infinity":
                return -math.inf
            try:
                f = float(v)
            except ValueError:
                raise JsonError(path, f"expected a number, got {_describe(v)}") from None
            if math.isnan(f) or math.isinf(f):
                raise JsonError(path, f"expected a number, got {_describe(v)}")
        else:
            raise JsonError(path, f"expected a number, got {_describe(v)}")
        if is_float and abs(f) >= _FLOAT_MAX and not math.isinf(f):
            raise JsonError(path, f"{v!r} is out of range for a float")
        return f

    return dec


def _dec_bool(v: Any, path: str) -> bool:
    if isinstance(v, bool):
        return v
    raise JsonError(path, f"expected true or false, got {_describe(v)}")


def _dec_string(v: Any, path: str) -> str:
    if isinstance(v, str):
        return v
    raise JsonError(path, f"expected a string, got {_describe(v)}")


def decode_base64(v: str) -> bytes:
    """Standard or URL-safe base64, padding optional (what ProtoJSON parsers accept)."""
    s = v.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s, validate=True)


def _dec_bytes(v: Any, path: str) -> bytes:
    if not isinstance(v, str):
        raise JsonError(path, f"expected a base64 string, got {_describe(v)}")
    try:
        return decode_base64(v)
    except (binascii.Error, ValueError):
        raise JsonError(path, f"{_describe(v)} is not valid base64") from None


def _dec_enum(fd: descriptor.FieldDescriptor) -> Decoder:
    enum = _et(fd)
    by_name = {v.name: v.number for v in enum.values}
    by_number = {v.number for v in enum.values}
    closed = enum.is_closed
    names = ", ".join(by_name)

    null_ok = enum.full_name == "google.protobuf.NullValue"

    def dec(v: Any, path: str) -> int:
        if v is None and null_ok:
            return 0
        if isinstance(v, str):
            n = by_name.get(v)
            if n is not None:
                return n
            try:
                v = int(v)
            except ValueError:
                raise JsonError(
                    path, f"{_describe(v)} is not a value of {enum.full_name} ({names})"
                ) from None
        if isinstance(v, int) and not isinstance(v, bool):
            if closed and v not in by_number:
                raise JsonError(path, f"{v} is not a value of {enum.full_name}")
            if not -(2**31) <= v < 2**31:
                raise JsonError(path, f"{v} is out of range for an enum")
            return v
        raise JsonError(path, f"expected an enum name or number, got {_describe(v)}")

    return dec


class Converters:
    """Per-message JSON encoders and decoders for every message type of a registry.

    Converters are compiled on first use of a type (the gateway warms them for every routed
    method at start-up) and cached; a message type refers to its field types' converters
    through one-element cells, so recursive types compile once.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        emit_unpopulated: bool = True,
        ignore_unknown_fields: bool = True,
    ) -> None:
        self.registry = registry
        self.emit_unpopulated = emit_unpopulated
        self.ignore_unknown_fields = ignore_unknown_fields
        self._enc: dict[str, list[Encoder]] = {}
        self._dec: dict[str, list[Callable[[Any, str], Message]]] = {}
        self._kw: dict[str, list[Callable[[Any, str], dict[str, Any]]]] = {}

    # -- public API ------------------------------------------------------------------------

    def encoder(self, desc: descriptor.Descriptor) -> Encoder:
        """message -> JSON-ready Python value (dict for ordinary messages)."""
        return self._enc_cell(desc)[0]

    def decoder(self, desc: descriptor.Descriptor) -> Callable[[Any, str], Message]:
        """JSON-ready Python value -> message; raises JsonError naming the field."""
        return self._dec_cell(desc)[0]

    def to_json(self, msg: Message) -> Any:
        """Encodes one message (looked up by its type)."""
        return self.encoder(msg.DESCRIPTOR)(msg)  # type: ignore[arg-type]

    def from_json(self, desc: descriptor.Descriptor, value: Any, path: str = "") -> Message:
        """Decodes one message of type `desc`."""
        return self.decoder(desc)(value, path)

    def field_encoder(self, fd: descriptor.FieldDescriptor) -> Encoder:
        """Encoder of a whole field value (repeated -> list, map -> dict)."""
        if _is_map(fd):
            kenc = _map_key_encoder(_mt(fd).fields_by_name["key"])
            menc = self._value_encoder(_mt(fd).fields_by_name["value"])
            if menc is None:
                return lambda m: {kenc(k): v for k, v in m.items()}
            return lambda m: {kenc(k): menc(v) for k, v in m.items()}
        venc = self._value_encoder(fd)
        if fd.is_repeated:
            if venc is None:
                return list
            return lambda r: [venc(x) for x in r]
        return venc if venc is not None else (lambda v: v)

    def field_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        """Decoder of a whole field value as a constructor keyword argument."""
        return self._field_decoder(fd, kwargs_ok=True)

    def _field_decoder(self, fd: descriptor.FieldDescriptor, *, kwargs_ok: bool) -> Decoder:
        """`kwargs_ok`: submessages may come out as constructor keyword dicts."""
        if _is_map(fd):
            kfd = _mt(fd).fields_by_name["key"]
            kdec = self._map_key_decoder(kfd)
            vfd = _mt(fd).fields_by_name["value"]
            vdec = self._value_decoder(vfd, kwargs_ok=kwargs_ok)
            map_null_ok = _accepts_null(vfd)

            def dec_map(v: Any, path: str) -> dict[Any, Any]:
                if not isinstance(v, dict):
                    raise JsonError(path, f"expected an object (map), got {_describe(v)}")
                out = {}
                for k, x in v.items():
                    p = f"{path}[{k!r}]"
                    if x is None and not map_null_ok:
                        raise JsonError(p, "map values cannot be null")
                    out[kdec(k, p)] = vdec(x, p)
                return out

            return dec_map
        vdec = self._value_decoder(fd, kwargs_ok=kwargs_ok)
        if fd.is_repeated:
            list_null_ok = _accepts_null(fd)

            def dec_list(v: Any, path: str) -> list[Any]:
                if not isinstance(v, list):
                    raise JsonError(path, f"expected an array, got {_describe(v)}")
                out = []
                for i, x in enumerate(v):
                    if x is None and not list_null_ok:
                        raise JsonError(f"{path}[{i}]", "array elements cannot be null")
                    out.append(vdec(x, f"{path}[{i}]"))
                return out

            return dec_list
        return vdec

    def scalar_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        """Decoder of one (non-repeated) value of the field's type."""
        return self._value_decoder(fd)

    # -- encoders --------------------------------------------------------------------------

    def _enc_cell(self, desc: descriptor.Descriptor) -> list[Encoder]:
        cell = self._enc.get(desc.full_name)
        if cell is None:
            cell = [lambda m: None]
            self._enc[desc.full_name] = cell
            cell[0] = self._compile_encoder(desc)
        return cell

    def _value_encoder(self, fd: descriptor.FieldDescriptor) -> Encoder | None:
        """Encoder of one value of a field; None means the value is already JSON-ready."""
        t = fd.type
        if t == FD.TYPE_MESSAGE or t == FD.TYPE_GROUP:
            cell = self._enc_cell(_mt(fd))
            return lambda v: cell[0](v)
        if t == FD.TYPE_ENUM:
            if _et(fd).full_name == "google.protobuf.NullValue":
                return lambda v: None
            names = {v.number: v.name for v in _et(fd).values}
            return lambda v: names.get(v, v)
        if t in _INT64_TYPES or t in _UINT64_TYPES:
            return str
        if t == FD.TYPE_BYTES:
            return _enc_bytes
        if t == FD.TYPE_FLOAT:
            return _enc_float
        if t == FD.TYPE_DOUBLE:
            return _enc_double
        return None  # int32 kinds, bool, string

    def _compile_encoder(self, desc: descriptor.Descriptor) -> Encoder:
        name = desc.full_name
        if name in WRAPPERS:
            inner = self._value_encoder(desc.fields_by_name["value"])
            if inner is None:
                return lambda m: m.value
            return lambda m: inner(m.value)
        if name == "google.protobuf.Timestamp":
            return _enc_timestamp
        if name in STRING_FORM:
            return lambda m: m.ToJsonString()
        if name == "google.protobuf.Struct":
            return _struct_to_py
        if name == "google.protobuf.Value":
            return _value_to_py
        if name == "google.protobuf.ListValue":
            return _list_to_py
        if name == "google.protobuf.Any":
            return self._any_encoder()

        if self.emit_unpopulated:
            return self._generate_encoder(desc)
        by_number: dict[int, tuple[str, Encoder | None]] = {}
        template: dict[str, Any] = {}
        for fd in desc.fields:
            key = fd.json_name
            enc = (
                self.field_encoder(fd)
                if (_is_map(fd) or fd.is_repeated)
                else (self._value_encoder(fd))
            )
            by_number[fd.number] = (key, enc)
            if not self.emit_unpopulated:
                continue
            if _is_map(fd):
                template[key] = {}
            elif fd.is_repeated:
                template[key] = []
            elif fd.containing_oneof is not None:
                continue  # real and synthetic (proto3 optional) oneofs: left out when unset
            elif fd.type == FD.TYPE_MESSAGE:
                # `null` like grpc-gateway, except for google.protobuf.Value, whose `null` would
                # read back as a set NullValue: an unset Value is left out instead.
                if _mt(fd).full_name != "google.protobuf.Value":
                    template[key] = None
            elif fd.has_presence:
                continue  # proto2 optional scalars
            else:
                template[key] = enc(fd.default_value) if enc is not None else fd.default_value
        get = by_number.__getitem__

        def encode(msg: Message) -> dict[str, Any]:
            out = template.copy()
            for fd, value in msg.ListFields():
                key, enc = get(fd.number)
                out[key] = value if enc is None else enc(value)
            return out

        return encode

    def _generate_encoder(self, desc: descriptor.Descriptor) -> Encoder:
        """Python source for one message type's encoder, compiled with exec.

        Every field without presence is read by attribute and printed (grpc-gateway's
        EmitUnpopulated); message fields print `null` when unset; members of real oneofs are
        found with one WhichOneof per oneof, proto3 `optional` and proto2 fields with HasField.
        Reading fields directly is cheaper than ListFields' (descriptor, value) pairs and a
        dictionary lookup per field, and the output dict is built in one literal.
        """
        env: dict[str, Any] = {}
        items: list[str] = []  # "key": expr, in declaration order
        tail: list[str] = []  # statements for fields printed only when set
        oneofs_done: set[str] = set()

        def name_of(obj: Any) -> str:
            ref = f"_e{len(env)}"
            env[ref] = obj
            return ref

        def expr(fd: descriptor.FieldDescriptor, value: str) -> str:
            if _is_map(fd):
                kfd, vfd = _mt(fd).fields_by_name["key"], _mt(fd).fields_by_name["value"]
                k = "k" if kfd.type == FD.TYPE_STRING else f"{name_of(_map_key_encoder(kfd))}(k)"
                venc = self._value_encoder(vfd)
                v = "v" if venc is None else f"{name_of(venc)}(v)"
                return f"{{{k}: {v} for k, v in {value}.items()}}"
            venc = self._value_encoder(fd)
            if fd.is_repeated:
                return (
                    f"list({value})" if venc is None else f"[{name_of(venc)}(x) for x in {value}]"
                )
            if venc is str:
                return f"str({value})"
            return value if venc is None else f"{name_of(venc)}({value})"

        def attr(fd: descriptor.FieldDescriptor) -> str:
            if fd.name.isidentifier() and not keyword.iskeyword(fd.name):
                return f"m.{fd.name}"
            return f"getattr(m, {fd.name!r})"

        for fd in desc.fields:
            key = repr(fd.json_name)
            oneof = fd.containing_oneof
            if fd.is_repeated:
                items.append(f"{key}: {expr(fd, attr(fd))}")
            elif oneof is not None:  # real and synthetic (proto3 optional) oneofs
                if oneof.name in oneofs_done:
                    continue
                oneofs_done.add(oneof.name)
                tail.append(f"w = m.WhichOneof({oneof.name!r})")
                for i, member in enumerate(oneof.fields):
                    kw = "if" if i == 0 else "elif"
                    tail.append(f"{kw} w == {member.name!r}:")
                    tail.append(f"    out[{member.json_name!r}] = {expr(member, attr(member))}")
            elif fd.has_presence:
                # message fields print null (except Value, whose null would read back as a
                # set NullValue); proto2 scalars only when set
                if (
                    fd.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP)
                    and _mt(fd).full_name != "google.protobuf.Value"
                ):
                    items.append(
                        f"{key}: {expr(fd, attr(fd))} if m.HasField({fd.name!r}) else None"
                    )
                else:
                    tail.append(f"if m.HasField({fd.name!r}):")
                    tail.append(f"    out[{key}] = {expr(fd, attr(fd))}")
            else:
                items.append(f"{key}: {expr(fd, attr(fd))}")
        body = ["def encode(m):", "    out = {" + ", ".join(items) + "}"]
        body += ["    " + line for line in tail]
        body.append("    return out")
        source = "\n".join(body)
        code = compile(source, f"<encoder {desc.full_name}>", "exec")
        exec(code, env)  # source built above from descriptor names and repr()s only
        return env["encode"]  # type: ignore[no-any-return]

    def _any_encoder(self) -> Encoder:
        registry = self.registry

        def encode(msg: Message) -> dict[str, Any]:
            type_url = msg.type_url  # type: ignore[attr-defined]
            if not type_url and not msg.value:  # type: ignore[attr-defined]
                return {}
            type_name = type_url.rsplit("/", 1)[-1]
            try:
                desc = registry.pool.FindMessageTypeByName(type_name)
            except KeyError:
                # Unknown to every descriptor set: keep the bytes rather than fail the call.
                return {"@type": type_url, "value": _enc_bytes(msg.value)}  # type: ignore[attr-defined]
            inner = registry.message_class(desc).FromString(msg.value)  # type: ignore[attr-defined]
            body = self._enc_cell(desc)[0](inner)
            if desc.full_name in SPECIAL_JSON:
                return {"@type": type_url, "value": body}
            out = {"@type": type_url}
            out.update(body)
            return out

        return encode

    # -- decoders --------------------------------------------------------------------------

    def _dec_cell(self, desc: descriptor.Descriptor) -> list[Callable[[Any, str], Message]]:
        cell = self._dec.get(desc.full_name)
        if cell is None:
            cell = [lambda v, p: None]  # type: ignore[list-item,return-value]
            self._dec[desc.full_name] = cell
            cell[0] = self._compile_decoder(desc)
        return cell

    def _map_key_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        if fd.type == FD.TYPE_STRING:
            return lambda k, p: k
        if fd.type == FD.TYPE_BOOL:

            def dec_bool_key(k: str, p: str) -> bool:
                if k in ("true", "false"):
                    return k == "true"
                raise JsonError(p, f"map key {k!r} is not true or false")

            return dec_bool_key
        return self._value_decoder(fd)

    def _value_decoder(self, fd: descriptor.FieldDescriptor, *, kwargs_ok: bool = False) -> Decoder:
        t = fd.type
        if t == FD.TYPE_MESSAGE or t == FD.TYPE_GROUP:
            mt = _mt(fd)
            if kwargs_ok and mt.full_name not in SPECIAL_JSON:
                kw = self._kw_cell(mt)
                return lambda v, p: kw[0](v, p)
            if kwargs_ok and mt.full_name == "google.protobuf.Timestamp":
                full = self._dec_cell(mt)

                def dec_timestamp(v: Any, p: str) -> Any:
                    if type(v) is str:
                        fast = _fast_timestamp(v)
                        if fast is not None:
                            return {"seconds": fast[0], "nanos": fast[1]}
                    return full[0](v, p)

                return dec_timestamp
            cell = self._dec_cell(mt)
            return lambda v, p: cell[0](v, p)
        if t == FD.TYPE_ENUM:
            return _dec_enum(fd)
        if t in _RANGES:
            return _dec_int(fd)
        if t == FD.TYPE_FLOAT or t == FD.TYPE_DOUBLE:
            return _dec_floating(fd)
        if t == FD.TYPE_BOOL:
            return _dec_bool
        if t == FD.TYPE_STRING:
            return _dec_string
        if t == FD.TYPE_BYTES:
            return _dec_bytes
        raise TypeError(f"unsupported field type {t} for {fd.full_name}")  # pragma: no cover

    def _compile_decoder(self, desc: descriptor.Descriptor) -> Callable[[Any, str], Message]:
        cls = self.registry.message_class(desc)
        name = desc.full_name
        if name in WRAPPERS:
            inner = self._value_decoder(desc.fields_by_name["value"])
            return lambda v, p: cls(value=inner(v, p))
        if name in STRING_FORM:
            is_timestamp = name == "google.protobuf.Timestamp"

            def dec_string_form(v: Any, path: str) -> Message:
                if not isinstance(v, str):
                    raise JsonError(path, f"expected a {desc.name} string, got {_describe(v)}")
                if is_timestamp:
                    fast = _fast_timestamp(v)
                    if fast is not None:
                        return cls(seconds=fast[0], nanos=fast[1])
                m = cls()
                try:
                    m.FromJsonString(v)  # type: ignore[attr-defined]
                except ValueError as exc:
                    raise JsonError(path, f"invalid {desc.name} {v!r}: {exc}") from None
                return m

            return dec_string_form
        if name == "google.protobuf.Struct":

            def dec_struct(v: Any, path: str) -> Message:
                if not isinstance(v, dict):
                    raise JsonError(path, f"expected an object, got {_describe(v)}")
                m = cls()
                m.update(v)  # type: ignore[attr-defined]
                return m

            return dec_struct
        if name == "google.protobuf.ListValue":

            def dec_list(v: Any, path: str) -> Message:
                if not isinstance(v, list):
                    raise JsonError(path, f"expected an array, got {_describe(v)}")
                m = cls()
                m.extend(v)  # type: ignore[attr-defined]
                return m

            return dec_list
        if name == "google.protobuf.Value":
            return lambda v, p: _py_to_value(cls, v, p)
        if name == "google.protobuf.Any":
            return self._any_decoder(cls)

        kw = self._kw_cell(desc)

        def decode(v: Any, path: str) -> Message:
            kwargs = kw[0](v, path)
            try:
                return cls(**kwargs)
            except (TypeError, ValueError) as exc:  # pragma: no cover - decoders check first
                raise JsonError(path, str(exc)) from None

        return decode

    def _kw_cell(self, desc: descriptor.Descriptor) -> list[Callable[[Any, str], dict[str, Any]]]:
        cell = self._kw.get(desc.full_name)
        if cell is None:
            cell = [lambda v, p: {}]
            self._kw[desc.full_name] = cell
            cell[0] = self._compile_kwargs_decoder(desc)
        return cell

    def _compile_kwargs_decoder(
        self, desc: descriptor.Descriptor
    ) -> Callable[[Any, str], dict[str, Any]]:
        """JSON object -> constructor keyword arguments of an ordinary message type.

        Message-typed fields of ordinary types decode to nested dicts as well: protobuf's
        constructor builds the whole tree in C, where one Python constructor call per
        submessage would build each and then copy it into its parent.
        """
        fields: dict[str, tuple[str, Decoder, str | None, bool, str]] = {}
        for fd in desc.fields:
            oneof = fd.containing_oneof.name if fd.containing_oneof is not None else None
            nullable_value = not fd.is_repeated and _accepts_null(fd)
            dec = self._field_decoder(fd, kwargs_ok=True)
            entry = (fd.name, dec, oneof, nullable_value, fd.json_name)
            fields[fd.json_name] = entry
            fields.setdefault(fd.name, (fd.name, dec, oneof, nullable_value, fd.name))
        ignore_unknown = self.ignore_unknown_fields
        full_name = desc.full_name

        def decode(v: Any, path: str) -> dict[str, Any]:
            if type(v) is not dict:
                raise JsonError(path, f"expected an object ({full_name}), got {_describe(v)}")
            kwargs: dict[str, Any] = {}
            oneofs: dict[str, str] | None = None
            for key, value in v.items():
                entry = fields.get(key)
                if entry is None:
                    if ignore_unknown:
                        continue
                    raise JsonError(_join(path, key), f"unknown field in {full_name}")
                fname, dec, oneof, nullable, key = entry
                if fname in kwargs:
                    raise JsonError(
                        _join(path, key), f"field {fname} is given twice (JSON and proto name)"
                    )
                if value is None and not nullable:
                    continue
                if oneof is not None:
                    if oneofs is None:
                        oneofs = {}
                    other = oneofs.get(oneof)
                    if other is not None:
                        raise JsonError(
                            _join(path, key),
                            f"fields {other} and {fname} of oneof {oneof} are both set",
                        )
                    oneofs[oneof] = fname
                kwargs[fname] = dec(value, path + "." + key if path else key)
            return kwargs

        return decode

    def _any_decoder(self, cls: type[Message]) -> Callable[[Any, str], Message]:
        registry = self.registry

        def decode(v: Any, path: str) -> Message:
            if not isinstance(v, dict):
                raise JsonError(path, f"expected an object (Any), got {_describe(v)}")
            if not v:
                return cls()
            type_url = v.get("@type")
            if not isinstance(type_url, str) or not type_url:
                raise JsonError(_join(path, "@type"), 'an Any needs a "@type" string')
            type_name = type_url.rsplit("/", 1)[-1]
            try:
                desc = registry.pool.FindMessageTypeByName(type_name)
            except KeyError:
                raise JsonError(
                    _join(path, "@type"), f"type {type_name!r} is in no descriptor set"
                ) from None
            dec = self._dec_cell(desc)[0]
            if desc.full_name in SPECIAL_JSON:
                if "value" not in v:
                    raise JsonError(path, f'an Any of {type_name} needs a "value"')
                inner = dec(v["value"], _join(path, "value"))
            else:
                inner = dec({k: x for k, x in v.items() if k != "@type"}, path)
            return cls(type_url=type_url, value=inner.SerializeToString(deterministic=True))

        return decode


_TIMESTAMP_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z\Z")


def _fast_timestamp(text: str) -> tuple[int, int] | None:
    """(seconds, nanos) of the common `...Z` RFC 3339 form; None to use the full parser.

    protobuf's Timestamp.FromJsonString is pure Python and costs several microseconds; this
    handles the form servers and browsers send and leaves offsets and oddities to it.
    """
    m = _TIMESTAMP_UTC.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    try:
        datetime.datetime(y, mo, d, h, mi, sec)  # validates the calendar fields
    except ValueError:
        return None
    frac = m.group(7)
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0)), nanos


_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MIN_TIMESTAMP = -62135596800  # 0001-01-01T00:00:00Z
_MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
_day_prefix: dict[int, str] = {}


def _enc_timestamp(m: Any) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits, as Timestamp.ToJsonString prints.

    ToJsonString goes through datetime and several string operations in Python; here the
    date part is cached per day and the rest is integer arithmetic. Out-of-range values go
    to ToJsonString, which raises the same error json_format does.
    """
    seconds, nanos = m.seconds, m.nanos
    if not (_MIN_TIMESTAMP <= seconds <= _MAX_TIMESTAMP and 0 <= nanos < 1_000_000_000):
        return m.ToJsonString()  # type: ignore[no-any-return]
    day, second_of_day = divmod(seconds, 86400)
    prefix = _day_prefix.get(day)
    if prefix is None:
        if len(_day_prefix) > 4096:
            _day_prefix.clear()
        prefix = datetime.date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
        _day_prefix[day] = prefix
    hour, rest = divmod(second_of_day, 3600)
    minute, second = divmod(rest, 60)
    if nanos == 0:
        return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}Z"
    if nanos % 1_000_000 == 0:
        return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{nanos // 1_000_000:03d}Z"
    if nanos % 1000 == 0:
        return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{nanos // 1000:06d}Z"
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{nanos:09d}Z"


def _accepts_null(fd: descriptor.FieldDescriptor) -> bool:
    """`null` is a value (not "unset") for google.protobuf.Value and NullValue."""
    if fd.type == FD.TYPE_ENUM:
        return _et(fd).full_name == "google.protobuf.NullValue"
    return fd.type == FD.TYPE_MESSAGE and _mt(fd).full_name == "google.protobuf.Value"


def _is_map(fd: descriptor.FieldDescriptor) -> bool:
    return fd.is_repeated and fd.type == FD.TYPE_MESSAGE and _mt(fd).GetOptions().map_entry


def _value_to_py(m: Any) -> Any:
    which = m.WhichOneof("kind")
    if which is None or which == "null_value":
        return None
    if which == "number_value":
        v = m.number_value
        if v - v != 0:
            raise ValueError("Value.number_value cannot be NaN or Infinity in JSON")
        return v
    if which == "string_value":
        return m.string_value
    if which == "bool_value":
        return m.bool_value
    if which == "struct_value":
        return _struct_to_py(m.struct_value)
    return _list_to_py(m.list_value)


def _struct_to_py(m: Any) -> dict[str, Any]:
    return {k: _value_to_py(v) for k, v in m.fields.items()}


def _list_to_py(m: Any) -> list[Any]:
    return [_value_to_py(v) for v in m.values]


def _py_to_value(cls: type[Message], v: Any, path: str) -> Message:
    if v is None:
        return cls(null_value=0)
    if isinstance(v, bool):
        return cls(bool_value=v)
    if isinstance(v, (int, float)):
        return cls(number_value=v)
    if isinstance(v, str):
        return cls(string_value=v)
    m = cls()
    if isinstance(v, dict):
        m.struct_value.SetInParent()  # type: ignore[attr-defined]
        m.struct_value.update(v)  # type: ignore[attr-defined]
    elif isinstance(v, list):
        m.list_value.SetInParent()  # type: ignore[attr-defined]
        m.list_value.extend(v)  # type: ignore[attr-defined]
    else:  # pragma: no cover - JSON has no other types
        raise JsonError(path, f"unsupported JSON value {_describe(v)}")
    return m
