"""`colonnade-dev-auth`: the local issuer's files, and that what it mints verifies."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from colonnade.runtime.auth import ApiKeyStore, AuthSettings, TokenVerifier
from colonnade_tools.devauth import AUDIENCE, ISSUER, DevAuth, main


async def test_minted_tokens_and_api_keys_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "auth"
    assert main(["--dir", str(root), "init"]) == 0
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "users.pem").stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["--dir", str(root), "token", "--sub", "alice", "--scope", "orders.read"]) == 0
    token = capsys.readouterr().out.strip()
    assert (
        main(
            [
                "--dir",
                str(root),
                "api-key",
                "--id",
                "shop",
                "--principal",
                "p:shop",
                "--scope",
                "orders.write",
                "--tier",
                "gold",
            ]
        )
        == 0
    )
    key = capsys.readouterr().out.strip()

    verifier = TokenVerifier(
        AuthSettings(jwks=str(root / "jwks.json"), issuer=ISSUER, audience=AUDIENCE)
    )
    verifier.start()
    principal = await verifier.verify(token)
    assert principal.subject == "alice" and principal.scopes == {"orders.read"}
    stored = json.loads((root / "api-keys.json").read_text())
    assert key not in json.dumps(stored)  # only its digest is kept
    api = ApiKeyStore.from_file(root / "api-keys.json").verify(key)
    assert (api.subject, api.tier, api.scopes) == ("p:shop", "gold", frozenset({"orders.write"}))
    # Without --scope a token holds every scope the contracts name; keys survive a re-init.
    everything = await verifier.verify(DevAuth(root).init().token("dev"))
    assert {"catalog.products.write", "orders.ship", "catalog.reservations.write"} <= (
        everything.scopes
    )
    assert (await verifier.verify(token)).subject == "alice"
    assert main(["--dir", str(root), "token", "--ttl", "forever"]) == 2
