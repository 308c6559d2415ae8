"""Page tokens for keyset pagination (AIP-158), shared by every service's List methods.

A token records where the last page ended (the sort-key values of its last row) and a
fingerprint of the query it belongs to, so a token replayed with another filter or
order is refused instead of silently skipping rows. Clients treat it as opaque: it is
URL-safe base64 without padding, and its content is checked field by field and type by
type when it comes back. Every error is an INVALID_ARGUMENT naming ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from colonnade.runtime.errors import FieldViolation, invalid_argument

_VERSION = 1
_INT64 = (-(2**63), 2**63 - 1)


def fingerprint(*parts: str) -> str:
    """A short digest of the query parameters a token is bound to."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def encode_page_token(query_fingerprint: str, values: Sequence[Any]) -> str:
    """A token for the page after the row whose sort-key values are ``values``."""
    payload = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = orjson.dumps({"v": _VERSION, "q": query_fingerprint, "k": payload})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(
    token: str,
    query_fingerprint: str,
    kinds: Sequence[type],
    *,
    mismatch: str = "was issued for a different filter or order_by",
) -> tuple[Any, ...]:
    """The values :func:`encode_page_token` recorded, each checked against ``kinds``.

    ``datetime`` kinds come back as aware datetimes. A token of another query is
    INVALID_ARGUMENT saying ``mismatch``; anything else not issued here says so.
    """
    bad = invalid_argument([FieldViolation("page_token", "is not a token this API returned")])
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if (
        not isinstance(data, dict)
        or data.get("v") != _VERSION
        or not isinstance(data.get("k"), list)
    ):
        raise bad
    if data.get("q") != query_fingerprint:
        raise invalid_argument([FieldViolation("page_token", mismatch)])
    raw = data["k"]
    if len(raw) != len(kinds):
        raise bad
    values: list[Any] = []
    for value, kind in zip(raw, kinds, strict=True):
        if kind is datetime:
            try:
                values.append(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                raise bad from None
        elif type(value) is not kind:
            raise bad
        elif (isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]) or (
            isinstance(value, str) and "\x00" in value
        ):
            raise bad  # what no row holds; the database would refuse it as a parameter
        else:
            values.append(value)
    return tuple(values)
