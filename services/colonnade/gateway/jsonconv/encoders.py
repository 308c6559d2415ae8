"""Message -> proto3 JSON (plain Python values for orjson), compiled once per message type.

With `emit_unpopulated` (the gateway's default, grpc-gateway's `EmitUnpopulated`) each message
type's encoder is Python source generated from its descriptor and compiled with exec: one dict
literal per message, fields read by attribute, `HasField`/`WhichOneof` only where presence
matters. Without it, the output equals `json_format.MessageToDict`.
"""

from __future__ import annotations

import keyword
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.jsonconv.scalars import (
    INT64_TYPES,
    UINT64_TYPES,
    enc_bytes,
    enc_double,
    enc_float,
    map_key_encoder,
)
from colonnade.gateway.jsonconv.types import (
    FD,
    SPECIAL_JSON,
    STRING_FORM,
    WRAPPERS,
    Cells,
    Encoder,
    enum_type,
    is_map,
    message_type,
)
from colonnade.gateway.jsonconv.wkt import enc_timestamp, list_to_py, struct_to_py, value_to_py


class Encoders:
    """The JSON encoders of a registry's message types, compiled on first use and cached; a
    type refers to its field types' encoders through one-element cells, so recursive types
    compile once."""

    def __init__(self, registry: Registry, *, emit_unpopulated: bool = True) -> None:
        self.registry = registry
        self.emit_unpopulated = emit_unpopulated
        self._enc: Cells[Encoder] = Cells(lambda m: None)

    def encoder(self, desc: descriptor.Descriptor) -> Encoder:
        """message -> JSON-ready Python value (dict for ordinary messages)."""
        return self._enc_cell(desc)[0]

    def field_encoder(self, fd: descriptor.FieldDescriptor) -> Encoder:
        """Encoder of a whole field value (repeated -> list, map -> dict)."""
        if is_map(fd):
            kenc = map_key_encoder(message_type(fd).fields_by_name["key"])
            menc = self._value_encoder(message_type(fd).fields_by_name["value"])
            if menc is None:
                return lambda m: {kenc(k): v for k, v in m.items()}
            return lambda m: {kenc(k): menc(v) for k, v in m.items()}
        venc = self._value_encoder(fd)
        if fd.is_repeated:
            if venc is None:
                return list
            return lambda r: [venc(x) for x in r]
        return venc if venc is not None else (lambda v: v)

    def _enc_cell(self, desc: descriptor.Descriptor) -> list[Encoder]:
        return self._enc.get(desc.full_name, lambda: self._compile_encoder(desc))

    def _value_encoder(self, fd: descriptor.FieldDescriptor) -> Encoder | None:
        """Encoder of one value of a field; None means the value is already JSON-ready."""
        t = fd.type
        if t == FD.TYPE_MESSAGE or t == FD.TYPE_GROUP:
            mt = message_type(fd)
            cell = self._enc_cell(mt)
            if mt.full_name not in self._enc.compiling:
                return cell[0]  # compiled: called directly
            return lambda v: cell[0](v)  # a recursive type still compiling: through its cell
        if t == FD.TYPE_ENUM:
            if enum_type(fd).full_name == "google.protobuf.NullValue":
                return lambda v: None
            names = {v.number: v.name for v in enum_type(fd).values}
            return lambda v: names.get(v, v)
        if t in INT64_TYPES or t in UINT64_TYPES:
            return str
        if t == FD.TYPE_BYTES:
            return enc_bytes
        if t == FD.TYPE_FLOAT:
            return enc_float
        if t == FD.TYPE_DOUBLE:
            return enc_double
        return None  # int32 kinds, bool, string

    def _compile_encoder(self, desc: descriptor.Descriptor) -> Encoder:
        name = desc.full_name
        if name in WRAPPERS:
            inner = self._value_encoder(desc.fields_by_name["value"])
            if inner is None:
                return lambda m: m.value
            return lambda m: inner(m.value)
        if name == "google.protobuf.Timestamp":
            return enc_timestamp
        if name in STRING_FORM:
            return lambda m: m.ToJsonString()
        if name == "google.protobuf.Struct":
            return struct_to_py
        if name == "google.protobuf.Value":
            return value_to_py
        if name == "google.protobuf.ListValue":
            return list_to_py
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
                if (is_map(fd) or fd.is_repeated)
                else (self._value_encoder(fd))
            )
            by_number[fd.number] = (key, enc)
            if not self.emit_unpopulated:
                continue
            if is_map(fd):
                template[key] = {}
            elif fd.is_repeated:
                template[key] = []
            elif fd.containing_oneof is not None:
                continue  # real and synthetic (proto3 optional) oneofs: left out when unset
            elif fd.type == FD.TYPE_MESSAGE:
                # `null` like grpc-gateway, except for google.protobuf.Value, whose `null` would
                # read back as a set NullValue: an unset Value is left out instead.
                if message_type(fd).full_name != "google.protobuf.Value":
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
            if is_map(fd):
                kfd, vfd = (
                    message_type(fd).fields_by_name["key"],
                    message_type(fd).fields_by_name["value"],
                )
                k = "k" if kfd.type == FD.TYPE_STRING else f"{name_of(map_key_encoder(kfd))}(k)"
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
                    and message_type(fd).full_name != "google.protobuf.Value"
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
                return {"@type": type_url, "value": enc_bytes(msg.value)}  # type: ignore[attr-defined]
            inner = registry.message_class(desc).FromString(msg.value)  # type: ignore[attr-defined]
            body = self._enc_cell(desc)[0](inner)
            if desc.full_name in SPECIAL_JSON:
                return {"@type": type_url, "value": body}
            out = {"@type": type_url}
            out.update(body)
            return out

        return encode
