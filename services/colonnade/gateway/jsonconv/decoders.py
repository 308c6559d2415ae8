"""Proto3 JSON -> message, compiled once per message type.

Decoders of ordinary message types build constructor keyword dicts, nested dicts included,
so protobuf constructs the whole tree in one call; every error is a JsonError naming the
field path and the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import JsonError
from colonnade.gateway.jsonconv.scalars import (
    RANGES,
    dec_bool,
    dec_bytes,
    dec_enum,
    dec_floating,
    dec_int,
    dec_string,
)
from colonnade.gateway.jsonconv.types import (
    FD,
    SPECIAL_JSON,
    STRING_FORM,
    WRAPPERS,
    Cells,
    Decoder,
    accepts_null,
    describe,
    is_map,
    join_path,
    message_type,
)
from colonnade.gateway.jsonconv.wkt import fast_timestamp, py_to_value

MessageDecoder = Callable[[Any, str], Message]
KwargsDecoder = Callable[[Any, str], dict[str, Any]]


def _no_message(v: Any, path: str) -> Message:  # the placeholder of a cell being compiled
    raise AssertionError("a decoder ran before it was compiled")  # pragma: no cover


class Decoders:
    """The JSON decoders of a registry's message types, compiled on first use and cached
    (through one-element cells, as the encoders)."""

    def __init__(self, registry: Registry, *, ignore_unknown_fields: bool = True) -> None:
        self.registry = registry
        self.ignore_unknown_fields = ignore_unknown_fields
        self._dec: Cells[MessageDecoder] = Cells(_no_message)
        self._kw: Cells[KwargsDecoder] = Cells(lambda v, p: {})

    def decoder(self, desc: descriptor.Descriptor) -> MessageDecoder:
        """JSON-ready Python value -> message; raises JsonError naming the field."""
        return self._dec_cell(desc)[0]

    def field_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        """Decoder of a whole field value as a constructor keyword argument."""
        return self._field_decoder(fd, kwargs_ok=True)

    def _field_decoder(self, fd: descriptor.FieldDescriptor, *, kwargs_ok: bool) -> Decoder:
        """`kwargs_ok`: submessages may come out as constructor keyword dicts."""
        if is_map(fd):
            kfd = message_type(fd).fields_by_name["key"]
            kdec = self._map_key_decoder(kfd)
            vfd = message_type(fd).fields_by_name["value"]
            vdec = self._value_decoder(vfd, kwargs_ok=kwargs_ok)
            map_null_ok = accepts_null(vfd)

            def dec_map(v: Any, path: str) -> dict[Any, Any]:
                if not isinstance(v, dict):
                    raise JsonError(path, f"expected an object (map), got {describe(v)}")
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
            list_null_ok = accepts_null(fd)

            def dec_list(v: Any, path: str) -> list[Any]:
                if not isinstance(v, list):
                    raise JsonError(path, f"expected an array, got {describe(v)}")
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

    def _dec_cell(self, desc: descriptor.Descriptor) -> list[Callable[[Any, str], Message]]:
        return self._dec.get(desc.full_name, lambda: self._compile_decoder(desc))

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
            mt = message_type(fd)
            if kwargs_ok and mt.full_name not in SPECIAL_JSON:
                kw = self._kw_cell(mt)
                if mt.full_name not in self._kw.compiling:
                    return kw[0]  # compiled: called directly
                return lambda v, p: kw[0](v, p)  # a recursive type still compiling
            if kwargs_ok and mt.full_name == "google.protobuf.Timestamp":
                full = self._dec_cell(mt)

                def dec_timestamp(v: Any, p: str) -> Any:
                    if type(v) is str:
                        fast = fast_timestamp(v)
                        if fast is not None:
                            return {"seconds": fast[0], "nanos": fast[1]}
                    return full[0](v, p)

                return dec_timestamp
            cell = self._dec_cell(mt)
            if mt.full_name not in self._dec.compiling:
                return cell[0]  # compiled: called directly
            return lambda v, p: cell[0](v, p)  # a recursive type still compiling
        if t == FD.TYPE_ENUM:
            return dec_enum(fd)
        if t in RANGES:
            return dec_int(fd)
        if t == FD.TYPE_FLOAT or t == FD.TYPE_DOUBLE:
            return dec_floating(fd)
        if t == FD.TYPE_BOOL:
            return dec_bool
        if t == FD.TYPE_STRING:
            return dec_string
        if t == FD.TYPE_BYTES:
            return dec_bytes
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
                    raise JsonError(path, f"expected a {desc.name} string, got {describe(v)}")
                if is_timestamp:
                    fast = fast_timestamp(v)
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
                    raise JsonError(path, f"expected an object, got {describe(v)}")
                m = cls()
                m.update(v)  # type: ignore[attr-defined]
                return m

            return dec_struct
        if name == "google.protobuf.ListValue":

            def dec_list(v: Any, path: str) -> Message:
                if not isinstance(v, list):
                    raise JsonError(path, f"expected an array, got {describe(v)}")
                m = cls()
                m.extend(v)  # type: ignore[attr-defined]
                return m

            return dec_list
        if name == "google.protobuf.Value":
            return lambda v, p: py_to_value(cls, v, p)
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
        return self._kw.get(desc.full_name, lambda: self._compile_kwargs_decoder(desc))

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
            nullable_value = not fd.is_repeated and accepts_null(fd)
            dec = self._field_decoder(fd, kwargs_ok=True)
            entry = (fd.name, dec, oneof, nullable_value, fd.json_name)
            fields[fd.json_name] = entry
            fields.setdefault(fd.name, (fd.name, dec, oneof, nullable_value, fd.name))
        ignore_unknown = self.ignore_unknown_fields
        full_name = desc.full_name

        def decode(v: Any, path: str) -> dict[str, Any]:
            if type(v) is not dict:
                raise JsonError(path, f"expected an object ({full_name}), got {describe(v)}")
            kwargs: dict[str, Any] = {}
            oneofs: dict[str, str] | None = None
            for key, value in v.items():
                entry = fields.get(key)
                if entry is None:
                    if ignore_unknown:
                        continue
                    raise JsonError(join_path(path, key), f"unknown field in {full_name}")
                fname, dec, oneof, nullable, key = entry
                if fname in kwargs:
                    raise JsonError(
                        join_path(path, key), f"field {fname} is given twice (JSON and proto name)"
                    )
                if value is None and not nullable:
                    continue
                if oneof is not None:
                    if oneofs is None:
                        oneofs = {}
                    other = oneofs.get(oneof)
                    if other is not None:
                        raise JsonError(
                            join_path(path, key),
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
                raise JsonError(path, f"expected an object (Any), got {describe(v)}")
            if not v:
                return cls()
            type_url = v.get("@type")
            if not isinstance(type_url, str) or not type_url:
                raise JsonError(join_path(path, "@type"), 'an Any needs a "@type" string')
            type_name = type_url.rsplit("/", 1)[-1]
            try:
                desc = registry.pool.FindMessageTypeByName(type_name)
            except KeyError:
                raise JsonError(
                    join_path(path, "@type"), f"type {type_name!r} is in no descriptor set"
                ) from None
            dec = self._dec_cell(desc)[0]
            if desc.full_name in SPECIAL_JSON:
                if "value" not in v:
                    raise JsonError(path, f'an Any of {type_name} needs a "value"')
                inner = dec(v["value"], join_path(path, "value"))
            else:
                inner = dec({k: x for k, x in v.items() if k != "@type"}, path)
            return cls(type_url=type_url, value=inner.SerializeToString(deterministic=True))

        return decode
