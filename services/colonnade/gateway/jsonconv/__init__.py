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

    types.py     field kinds, the well-known types with special JSON forms, error wording
    scalars.py   numbers, bools, strings, bytes and enums both ways
    wkt.py       Timestamp fast paths, Struct / Value / ListValue
    encoders.py  message -> JSON, compiled (generated code) per message type
    decoders.py  JSON -> message, compiled per message type
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor
from google.protobuf.message import DecodeError, Message

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import JsonError
from colonnade.gateway.jsonconv.decoders import Decoders, MessageDecoder
from colonnade.gateway.jsonconv.encoders import Encoders
from colonnade.gateway.jsonconv.scalars import decode_base64
from colonnade.gateway.jsonconv.types import (
    SPECIAL_JSON,
    STRING_FORM,
    WRAPPERS,
    Decoder,
    Encoder,
    message_type,
)

#: What a JSON value nested deeper than protobuf allows raises while it is built: upb refuses
#: messages more than 100 levels deep (DecodeError), Struct.update recurses in Python.
NESTING_ERRORS = (DecodeError, RecursionError)


def nesting_error(path: str, exc: Exception, value: Any = None) -> JsonError:
    """The JsonError for one of NESTING_ERRORS: a client error naming the field, not a 500.
    The error comes from the message as a whole; the field named is `value`'s deepest member."""
    if isinstance(value, dict) and value:
        key = max(value, key=lambda k: json_depth(value[k]))
        path = f"{path}.{key}" if path else str(key)
    if isinstance(exc, RecursionError) or "MaxDepth" in str(exc):
        return JsonError(path, "is nested too deeply (protobuf allows 100 levels of messages)")
    return JsonError(path, f"cannot be built: {exc}")  # pragma: no cover - no other known case


def json_depth(value: Any) -> int:
    """How deep a JSON value nests (iterative: the value may be deeper than Python's stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


__all__ = [
    "NESTING_ERRORS",
    "SPECIAL_JSON",
    "STRING_FORM",
    "WRAPPERS",
    "Converters",
    "Decoder",
    "Encoder",
    "JsonError",
    "decode_base64",
    "json_depth",
    "message_type",
    "nesting_error",
]


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
        self.encoders = Encoders(registry, emit_unpopulated=emit_unpopulated)
        self.decoders = Decoders(registry, ignore_unknown_fields=ignore_unknown_fields)

    def encoder(self, desc: descriptor.Descriptor) -> Encoder:
        """message -> JSON-ready Python value (dict for ordinary messages)."""
        return self.encoders.encoder(desc)

    def decoder(self, desc: descriptor.Descriptor) -> MessageDecoder:
        """JSON-ready Python value -> message; raises JsonError naming the field."""
        return self.decoders.decoder(desc)

    def to_json(self, msg: Message) -> Any:
        """Encodes one message (looked up by its type)."""
        return self.encoder(msg.DESCRIPTOR)(msg)  # type: ignore[arg-type]

    def from_json(self, desc: descriptor.Descriptor, value: Any, path: str = "") -> Message:
        """Decodes one message of type `desc`."""
        try:
            return self.decoder(desc)(value, path)
        except NESTING_ERRORS as exc:
            raise nesting_error(path, exc, value) from None

    def field_encoder(self, fd: descriptor.FieldDescriptor) -> Encoder:
        """Encoder of a whole field value (repeated -> list, map -> dict)."""
        return self.encoders.field_encoder(fd)

    def field_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        """Decoder of a whole field value as a constructor keyword argument."""
        return self.decoders.field_decoder(fd)

    def scalar_decoder(self, fd: descriptor.FieldDescriptor) -> Decoder:
        """Decoder of one (non-repeated) value of the field's type."""
        return self.decoders.scalar_decoder(fd)
