"""Proto3 JSON schemas of messages, enums and fields, named as each format wants."""

from __future__ import annotations

import copy
import re
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor

from colonnade.gateway.openapi.model import Format
from colonnade.gateway.openapi.protodoc import behaviors

FD = descriptor.FieldDescriptor

# Well-known types → their proto3 JSON schema.
WKT: dict[str, dict[str, Any]] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "description": "Seconds with an 's' suffix, e.g. 1.5s.",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated lowerCamel field paths, e.g. title,price.units.",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": {}},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.DoubleValue": {"type": "number", "format": "double"},
    "google.protobuf.FloatValue": {"type": "number", "format": "float"},
    "google.protobuf.Int64Value": {"type": "string", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "string", "format": "uint64"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int64"},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "additionalProperties": {},
        "description": "A message of any type; `@type` names it.",
    },
}

_SCALARS: dict[int, dict[str, Any]] = {
    FD.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FD.TYPE_FLOAT: {"type": "number", "format": "float"},
    FD.TYPE_INT64: {"type": "string", "format": "int64"},
    FD.TYPE_SINT64: {"type": "string", "format": "int64"},
    FD.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FD.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FD.TYPE_FIXED64: {"type": "string", "format": "uint64"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64"},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BYTES: {"type": "string", "format": "byte"},
}


class Schemas:
    """Builds component schemas for one format, naming them as that format wants."""

    def __init__(self, fmt: Format, comments: dict[str, str]) -> None:
        self.fmt = fmt
        self.comments = comments
        self.components: dict[str, dict[str, Any]] = {}
        self._names: dict[str, str] = {}

    def name(self, full_name: str, suffix: str = "") -> str:
        key = full_name + suffix
        if key in self._names:
            return self._names[key]
        parts = full_name.split(".")
        if self.fmt == "swagger2":
            # grpc-gateway's legacy naming: last package component + message name(s).
            package = [p for p in parts if p[:1].islower()]
            types = [p for p in parts if p[:1].isupper()]
            name = (package[-1] if package else "") + "".join(types)
        elif self.fmt == "aws":
            name = "".join(p[:1].upper() + p[1:] for p in re.split(r"[._]", full_name))
        else:
            name = full_name
        name += suffix
        while name in self._names.values():
            name += "X"
        self._names[key] = name
        return name

    def ref(self, name: str) -> dict[str, Any]:
        base = "#/definitions/" if self.fmt == "swagger2" else "#/components/schemas/"
        return {"$ref": base + name}

    def field_schema(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value_fd = fd.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self.single(value_fd)}
        single = self.single(fd)
        if fd.is_repeated:
            return {"type": "array", "items": single}
        if fd.has_presence and not fd.containing_oneof and self.fmt == "openapi3":
            # The gateway prints unset message (and optional) fields as null.
            if "$ref" in single:
                return {"allOf": [single], "nullable": True}
            return {**single, "nullable": True}
        return single

    def single(self, fd: descriptor.FieldDescriptor) -> dict[str, Any]:
        if fd.type == FD.TYPE_ENUM:
            assert fd.enum_type is not None
            return self.enum(fd.enum_type)
        if fd.type in (FD.TYPE_MESSAGE, FD.TYPE_GROUP):
            assert fd.message_type is not None
            return self.message(fd.message_type)
        return dict(_SCALARS[fd.type])

    def enum(self, enum: descriptor.EnumDescriptor) -> dict[str, Any]:
        if enum.full_name == "google.protobuf.NullValue":
            return {"nullable": True} if self.fmt == "openapi3" else {}
        name = self.name(enum.full_name)
        if name not in self.components:
            schema: dict[str, Any] = {"type": "string", "enum": [v.name for v in enum.values]}
            if self.fmt == "swagger2":
                schema["default"] = enum.values[0].name
            doc = self.comments.get(enum.full_name)
            values = [
                f"- {v.name}: {self.comments[f'{enum.full_name}.{v.name}']}"
                for v in enum.values
                if f"{enum.full_name}.{v.name}" in self.comments
            ]
            text = "\n".join(x for x in [doc or "", *values] if x)
            if text:
                schema["description"] = text
            self.components[name] = schema
        return self.ref(name)

    def message(self, msg: descriptor.Descriptor, *, partial: bool = False) -> dict[str, Any]:
        """A reference to ``msg``'s schema; ``partial`` drops ``required`` (PATCH bodies)."""
        if msg.full_name == "google.protobuf.Any":
            name = self.name(msg.full_name)  # a shared model, as protoc-gen-openapiv2 has it
            self.components.setdefault(name, copy.deepcopy(WKT[msg.full_name]))
            return self.ref(name)
        if msg.full_name in WKT:
            return copy.deepcopy(WKT[msg.full_name])
        name = self.name(msg.full_name, "Update" if partial else "")
        if name in self.components:
            return self.ref(name)
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        self.components[name] = schema  # placed first: recursive messages refer to it
        doc = self.comments.get(msg.full_name)
        if doc:
            schema["description"] = doc
        required = []
        for fd in msg.fields:
            prop = self.field_schema(fd)
            field_behaviors = behaviors(fd)
            text = self.comments.get(f"{msg.full_name}.{fd.name}")
            if fd.containing_oneof and not fd.containing_oneof.name.startswith("_"):
                others = [f.json_name for f in fd.containing_oneof.fields if f is not fd]
                note = f"Only one of {fd.json_name}, {', '.join(others)} may be set."
                text = f"{text}\n\n{note}" if text else note
            if text:
                prop = (
                    {"allOf": [prop], "description": text}
                    if "$ref" in prop
                    else {**prop, "description": text}
                )
            if field_behavior_pb2.OUTPUT_ONLY in field_behaviors and self.fmt != "aws":
                prop = (
                    {"allOf": [prop], "readOnly": True}
                    if "$ref" in prop
                    else {**prop, "readOnly": True}
                )
            if field_behavior_pb2.REQUIRED in field_behaviors and not partial:
                required.append(fd.json_name)
            schema["properties"][fd.json_name] = prop
        if required:
            schema["required"] = required
        return self.ref(name)
