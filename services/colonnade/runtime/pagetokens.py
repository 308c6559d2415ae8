"""Page tokens for keyset pagination (AIP-158), shared by every service's List methods.

A token records where the last page ended (the sort-key values of its last row) and a
fingerprint of the query it belongs to, so a token replayed with another filter or
order is refused instead of silently skipping rows. Clients treat it as opaque: it is
URL-safe base64 without padding, ``<payload>.<signature>``, and tamper-evident: the
signature is an HMAC-SHA256 (128 bits) of the payload with the deployment's key
(``PAGE_TOKEN_KEYS``: comma-separated, the first signs, every one verifies, so a key is
rotated by putting the new one first and dropping the old one a token lifetime later).
A token whose signature fails, that is longer than :data:`MAX_TOKEN_LENGTH`, or whose
content is not what this module wrote, is refused; the content is also checked field by
field and type by type. Every error is an INVALID_ARGUMENT naming ``page_token``.

Without ``PAGE_TOKEN_KEYS`` (local development, the tests) a fixed development key signs:
it is public, so a deployment sets its own secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from colonnade.runtime.errors import FieldViolation, invalid_argument

_VERSION = 1
_INT64 = (-(2**63), 2**63 - 1)
#: The longest token accepted: several times the longest one issued (a few sort keys).
MAX_TOKEN_LENGTH = 1024
#: The environment variable of the signing keys (also read by :class:`Settings`).
KEYS_VARIABLE = "PAGE_TOKEN_KEYS"
#: The shortest key accepted (HMAC-SHA256 keys should carry at least 128 bits).
MIN_KEY_LENGTH = 16
_DEVELOPMENT_KEY = b"colonnade-development-page-token-key (public: set PAGE_TOKEN_KEYS)"
_SIGNATURE_BYTES = 16

_keys: tuple[bytes, ...] | None = None


def parse_keys(raw: str) -> tuple[str, ...]:
    """``PAGE_TOKEN_KEYS``'s keys; ValueError naming the variable for a short one."""
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        if len(key.encode()) < MIN_KEY_LENGTH:
            raise ValueError(f"{KEYS_VARIABLE}: every key must be at least {MIN_KEY_LENGTH} bytes")
    return keys


def configure(keys: Sequence[str]) -> None:
    """Sign with ``keys[0]``, accept any of ``keys`` (none: the development key)."""
    global _keys
    _keys = tuple(k.encode() for k in keys) or (_DEVELOPMENT_KEY,)


def _signing_keys() -> tuple[bytes, ...]:
    if _keys is None:
        configure(parse_keys(os.environ.get(KEYS_VARIABLE, "")))
    assert _keys is not None
    return _keys


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(*parts: str) -> str:
    """A short digest of the query parameters a token is bound to."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def encode_page_token(query_fingerprint: str, values: Sequence[Any]) -> str:
    """A token for the page after the row whose sort-key values are ``values``."""
    payload = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    raw = orjson.dumps({"v": _VERSION, "q": query_fingerprint, "k": payload})
    return f"{_b64(raw)}.{_b64(_sign(_signing_keys()[0], raw))}"


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
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid_argument(
            [FieldViolation("page_token", f"is longer than {MAX_TOKEN_LENGTH} characters")]
        )
    payload, _, signature = token.partition(".")
    try:
        raw, mac = _unb64(payload), _unb64(signature)
    except (binascii.Error, ValueError):
        raise bad from None
    if not any(hmac.compare_digest(mac, _sign(key, raw)) for key in _signing_keys()):
        raise bad
    try:
        data = orjson.loads(raw)
    except ValueError:
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
