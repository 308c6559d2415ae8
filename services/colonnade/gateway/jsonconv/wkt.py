"""Well-known types with JSON forms of their own: fast Timestamp paths, Struct and Value."""

from __future__ import annotations

import calendar
import datetime
import re
from typing import Any

from google.protobuf.message import Message

from colonnade.gateway.errors import JsonError
from colonnade.gateway.jsonconv.types import describe

_TIMESTAMP_UTC = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z\Z")


def fast_timestamp(text: str) -> tuple[int, int] | None:
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


def enc_timestamp(m: Any) -> str:
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


def value_to_py(m: Any) -> Any:
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
        return struct_to_py(m.struct_value)
    return list_to_py(m.list_value)


def struct_to_py(m: Any) -> dict[str, Any]:
    return {k: value_to_py(v) for k, v in m.fields.items()}


def list_to_py(m: Any) -> list[Any]:
    return [value_to_py(v) for v in m.values]


def py_to_value(cls: type[Message], v: Any, path: str) -> Message:
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
        raise JsonError(path, f"unsupported JSON value {describe(v)}")
    return m
