"""A local token issuer for tests: signing keys, their JWKS file and an API key file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colonnade.runtime.auth import SigningKey, hash_api_key, jwks_document, new_api_key

ISSUER = "https://issuer.colonnade.test"
AUDIENCE = "colonnade"


@dataclass
class AuthKit:
    """Keys on disk as a deployment would have them."""

    root: Path
    user_key: SigningKey = field(default_factory=lambda: SigningKey.generate("users-1"))
    orders_key: SigningKey = field(default_factory=lambda: SigningKey.generate("orders-1"))
    gateway_key: SigningKey = field(default_factory=lambda: SigningKey.generate("gateway-1"))
    api_keys: dict[str, str] = field(default_factory=dict)  # name -> raw key

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.jwks = self.root / "jwks.json"
        self.jwks.write_text(jwks_document([self.user_key, self.orders_key, self.gateway_key]))
        self.api_keys_file = self.root / "api-keys.json"
        entries = []
        for name, scopes, tier in [
            ("shop", ["orders.read", "orders.write"], "gold"),
            ("reader", ["orders.read"], "free"),
        ]:
            raw = new_api_key()
            self.api_keys[name] = raw
            entries.append(
                {
                    "id": name,
                    "sha256": hash_api_key(raw),
                    "principal": f"partner:{name}",
                    "scopes": scopes,
                    "tier": tier,
                }
            )
        self.api_keys_file.write_text(json.dumps({"keys": entries}))
        for name, key in (("orders", self.orders_key), ("gateway", self.gateway_key)):
            (self.root / f"{name}.pem").write_bytes(key.private_pem)

    def token(self, subject: str = "alice", *scopes: str, ttl: float = 600) -> str:
        """A user token from the test issuer."""
        return self.user_key.mint(subject, scopes, issuer=ISSUER, audience=AUDIENCE, ttl=ttl)

    def bearer(self, subject: str = "alice", *scopes: str) -> dict[str, str]:
        """An Authorization header."""
        return {"authorization": "Bearer " + self.token(subject, *scopes)}

    def service_env(self, name: str | None = None, scopes: str = "") -> dict[str, str]:
        """A service's AUTH_* settings (and its own identity when `name` has a key)."""
        env = {"auth_jwks": str(self.jwks), "auth_issuer": ISSUER, "auth_audience": AUDIENCE}
        if name is not None:
            env.update(
                service_token_key_file=str(self.root / f"{name}.pem"),
                service_token_kid=f"{name}-1",
                service_token_scopes=scopes,
            )
        return env

    def gateway_config(self) -> dict[str, Any]:
        """The gateway's auth settings (with its own identity towards the services)."""
        return {
            "auth_jwks": str(self.jwks),
            "auth_issuer": ISSUER,
            "auth_audience": AUDIENCE,
            "api_keys_file": str(self.api_keys_file),
            "service_token_key_file": str(self.root / "gateway.pem"),
            "service_token_kid": "gateway-1",
        }
