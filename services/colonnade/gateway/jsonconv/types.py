"""What every converter module shares: field kinds, special types, error wording."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from google.protobuf import descriptor

FD = descriptor.FieldDescriptor
Encoder = Callable[[Any], Any]
Decoder = Callable[[Any, str], Any]
T = TypeVar("T")


class Cells(Generic[T]):
    """Converters compiled once per message type, each in a one-element cell.

    A type refers to its field types' converters through their cells, so a recursive type
    compiles once: while a type compiles, its cell holds a placeholder and the types that
    refer back to it go through the cell; once compiled, callers take the converter itself
    (one call less per value).
    """

    def __init__(self, placeholder: T) -> None:
        self.placeholder = placeholder
        self.cells: dict[str, list[T]] = {}
        self.compiling: set[str] = set()

    def get(self, name: str, build: Callable[[], T]) -> list[T]:
        """The cell of type `name`, compiled by `build` on first use."""
        cell = self.cells.get(name)
        if cell is None:
            cell = [self.placeholder]
            self.cells[name] = cell
            self.compiling.add(name)
            try:
                cell[0] = build()
            finally:
                self.compiling.discard(name)
        return cell


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


def message_type(fd: descriptor.FieldDescriptor) -> descriptor.Descriptor:
    """The message type of a message field (typed: the stubs say Optional)."""
    mt = fd.message_type
    assert mt is not None, fd.full_name
    return mt


def enum_type(fd: descriptor.FieldDescriptor) -> descriptor.EnumDescriptor:
    """The enum type of an enum field."""
    et = fd.enum_type
    assert et is not None, fd.full_name
    return et


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def describe(value: Any) -> str:
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


def accepts_null(fd: descriptor.FieldDescriptor) -> bool:
    """`null` is a value (not "unset") for google.protobuf.Value and NullValue."""
    if fd.type == FD.TYPE_ENUM:
        return enum_type(fd).full_name == "google.protobuf.NullValue"
    return fd.type == FD.TYPE_MESSAGE and message_type(fd).full_name == "google.protobuf.Value"


def is_map(fd: descriptor.FieldDescriptor) -> bool:
    return fd.is_repeated and fd.type == FD.TYPE_MESSAGE and message_type(fd).GetOptions().map_entry
