"""Building response messages cheaply: timestamps, and conversions reused by identity.

Profiling a cached ``GetProduct`` (BUILD.md, "Runtime performance") showed the servicer's
proto building as one of the largest costs of a call: ``Timestamp.FromDatetime`` is pure
Python with checks, and a product was converted afresh on every call even when the cache
handed back the very same object.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf import timestamp_pb2

K = TypeVar("K")
V = TypeVar("V")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    """``value`` as a ``google.protobuf.Timestamp`` (a naive datetime is UTC, as
    ``Timestamp.FromDatetime`` reads it), in integer arithmetic: no precision lost."""
    delta = (value if value.tzinfo is not None else value.replace(tzinfo=UTC)) - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000
    )


class ByIdentity(Generic[K, V]):
    """``convert`` memoised by the identity of its argument, for the last ``size`` objects.

    Meant for immutable values handed out again and again (the read-through cache's hot
    entries): the same object gets the same result without converting it again. The result
    is shared, so callers must not change it (gRPC only serialises a response). An entry
    holds its object, so its ``id`` cannot be reused while it is remembered.
    """

    def __init__(self, convert: Callable[[K], V], size: int = 4096) -> None:
        self._convert = convert
        self._size = max(1, size)
        self._entries: dict[int, tuple[K, V]] = {}

    def __call__(self, value: K) -> V:
        entries = self._entries
        entry = entries.get(id(value))
        if entry is not None and entry[0] is value:
            return entry[1]
        converted = self._convert(value)
        if len(entries) >= self._size:
            del entries[next(iter(entries))]
        entries[id(value)] = (value, converted)
        return converted
