"""Scalar values (numbers, bools, strings, bytes, enums) to and from proto3 JSON."""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from google.protobuf import descriptor
from google.protobuf.internal import type_checkers

from colonnade.gateway.errors import JsonError
from colonnade.gateway.jsonconv.types import FD, Decoder, Encoder, describe, enum_type

_INT32_TYPES = {FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32}
_UINT32_TYPES = {FD.TYPE_UINT32, FD.TYPE_FIXED32}
INT64_TYPES = {FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64}
UINT64_TYPES = {FD.TYPE_UINT64, FD.TYPE_FIXED64}
RANGES = {
    **dict.fromkeys(_INT32_TYPES, (-(2**31), 2**31 - 1)),
    **dict.fromkeys(_UINT32_TYPES, (0, 2**32 - 1)),
    **dict.fromkeys(INT64_TYPES, (-(2**63), 2**63 - 1)),
    **dict.fromkeys(UINT64_TYPES, (0, 2**64 - 1)),
}
# Largest double that still rounds to a finite float32 (max float32 + half an ulp).
_FLOAT_MAX = 3.4028235677973366e38


# ---------------------------------------------------------------------------------- encoding


def enc_float(v: float) -> Any:
    if v - v == 0:
        return type_checkers.ToShortestFloat(v)
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def enc_double(v: float) -> Any:
    if v - v == 0:
        return v
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def enc_bytes(v: bytes) -> str:
    return binascii.b2a_base64(v, newline=False).decode("ascii")


def map_key_encoder(fd: descriptor.FieldDescriptor) -> Encoder:
    if fd.type == FD.TYPE_BOOL:
        return lambda k: "true" if k else "false"
    return str


# ---------------------------------------------------------------------------------- decoding


def dec_int(fd: descriptor.FieldDescriptor) -> Decoder:
    lo, hi = RANGES[fd.type]

    def dec(v: Any, path: str) -> int:
        if isinstance(v, bool):
            raise JsonError(path, f"expected an integer, got {describe(v)}")
        if isinstance(v, int):
            n = v
        elif isinstance(v, float):
            if not v.is_integer():
                raise JsonError(path, f"expected an integer, got {describe(v)}")
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
                    raise JsonError(path, f"expected an integer, got {describe(v)}") from None
                n = int(f)
        else:
            raise JsonError(path, f"expected an integer, got {describe(v)}")
        if n < lo or n > hi:
            raise JsonError(path, f"{n} is out of range [{lo}, {hi}]")
        return n

    return dec


def dec_floating(fd: descriptor.FieldDescriptor) -> Decoder:
    is_float = fd.type == FD.TYPE_FLOAT

    def dec(v: Any, path: str) -> float:
        if isinstance(v, bool):
            raise JsonError(path, f"expected a number, got {describe(v)}")
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
                raise JsonError(path, f"expected a number, got {describe(v)}") from None
            if math.isnan(f) or math.isinf(f):
                raise JsonError(path, f"expected a number, got {describe(v)}")
        else:
            raise JsonError(path, f"expected a number, got {describe(v)}")
        if is_float and abs(f) >= _FLOAT_MAX and not math.isinf(f):
            raise JsonError(path, f"{v!r} is out of range for a float")
        return f

    return dec


def dec_bool(v: Any, path: str) -> bool:
    if isinstance(v, bool):
        return v
    raise JsonError(path, f"expected true or false, got {describe(v)}")


def dec_string(v: Any, path: str) -> str:
    if isinstance(v, str):
        return v
    raise JsonError(path, f"expected a string, got {describe(v)}")


def decode_base64(v: str) -> bytes:
    """Standard or URL-safe base64, padding optional (what ProtoJSON parsers accept)."""
    s = v.replace("-", "+").replace("_", "/")
    s += "=" * (-len(s) % 4)
    return base64.b64decode(s, validate=True)


def dec_bytes(v: Any, path: str) -> bytes:
    if not isinstance(v, str):
        raise JsonError(path, f"expected a base64 string, got {describe(v)}")
    try:
        return decode_base64(v)
    except (binascii.Error, ValueError):
        raise JsonError(path, f"{describe(v)} is not valid base64") from None


def dec_enum(fd: descriptor.FieldDescriptor) -> Decoder:
    enum = enum_type(fd)
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
                    path, f"{describe(v)} is not a value of {enum.full_name} ({names})"
                ) from None
        if isinstance(v, int) and not isinstance(v, bool):
            if closed and v not in by_number:
                raise JsonError(path, f"{v} is not a value of {enum.full_name}")
            if not -(2**31) <= v < 2**31:
                raise JsonError(path, f"{v} is out of range for an enum")
            return v
        raise JsonError(path, f"expected an enum name or number, got {describe(v)}")

    return dec
