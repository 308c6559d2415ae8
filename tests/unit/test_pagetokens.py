"""Page tokens are opaque and tamper-evident (AIP-158): signed with the deployment's key,
rotated by listing the new key first, and every refusal is INVALID_ARGUMENT on page_token."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest

from colonnade.runtime import pagetokens
from colonnade.runtime.errors import Code, DomainError
from colonnade.runtime.settings import Settings, SettingsError

KINDS = [int, datetime, str]
VALUES = (7, datetime(2026, 11, 26, 12, 0, tzinfo=UTC), "orders/o-1")
OLD, NEW = "old-key-0123456789abcdef", "new-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _keys() -> Iterator[None]:
    pagetokens.configure([OLD])
    yield
    pagetokens.configure([])


def refusal(token: str, fingerprint: str = "q1") -> str:
    with pytest.raises(DomainError) as exc:
        pagetokens.decode_page_token(token, fingerprint, KINDS)
    assert exc.value.code == Code.INVALID_ARGUMENT
    fields = {v.field: v.description for v in exc.value.violations}
    assert set(fields) == {"page_token"}, fields
    return fields["page_token"]


def parts(token: str) -> tuple[bytes, str]:
    payload, signature = token.split(".")
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), signature


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_token_round_trips_and_is_opaque() -> None:
    token = pagetokens.encode_page_token("q1", VALUES)
    assert pagetokens.decode_page_token(token, "q1", KINDS) == VALUES
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_a_modified_position_is_refused() -> None:
    """Moving the keyset (another id, the same fingerprint) without the key fails."""
    raw, signature = parts(pagetokens.encode_page_token("q1", VALUES))
    moved = orjson.loads(raw)
    moved["k"][2] = "orders/o-999"
    assert "not a token this API returned" in refusal(f"{b64(orjson.dumps(moved))}.{signature}")


def test_an_unsigned_old_style_token_is_refused() -> None:
    raw, _ = parts(pagetokens.encode_page_token("q1", VALUES))
    assert "not a token" in refusal(b64(raw))


def test_a_token_signed_with_another_key_is_refused() -> None:
    pagetokens.configure(["an-attackers-key-0123456789"])
    forged = pagetokens.encode_page_token("q1", VALUES)
    pagetokens.configure([OLD])
    assert "not a token" in refusal(forged)


def test_rotation_accepts_the_old_key_until_it_is_dropped() -> None:
    issued = pagetokens.encode_page_token("q1", VALUES)
    pagetokens.configure([NEW, OLD])
    assert pagetokens.decode_page_token(issued, "q1", KINDS) == VALUES
    fresh = pagetokens.encode_page_token("q1", VALUES)
    assert fresh != issued  # the new key signs
    pagetokens.configure([NEW])
    assert pagetokens.decode_page_token(fresh, "q1", KINDS) == VALUES
    assert "not a token" in refusal(issued)


def test_overlong_and_garbage_tokens_are_refused() -> None:
    assert "longer than 1024" in refusal("A" * 1025)
    assert "longer than" in refusal(pagetokens.encode_page_token("q1", VALUES) + "A" * 1024)
    for junk in ("%%%", "é.é", ".", "abc.", ".abc", "a.b.c", "\x00"):
        refusal(junk)


def test_a_token_of_another_query_still_says_so() -> None:
    token = pagetokens.encode_page_token("q1", VALUES)
    assert "different filter" in refusal(token, fingerprint="q2")


def test_the_keys_come_from_settings_and_must_be_long_enough() -> None:
    settings = Settings.from_env({"PAGE_TOKEN_KEYS": f"{NEW}, {OLD}"})
    assert settings.page_token_keys == (NEW, OLD)
    with pytest.raises(SettingsError, match="PAGE_TOKEN_KEYS"):
        Settings.from_env({"PAGE_TOKEN_KEYS": "short"})  # pragma: allowlist secret
