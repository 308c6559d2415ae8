"""``colonnade-dev-auth``: a local token issuer and API key store for development.

    colonnade-dev-auth init                       # keys + JWKS + API key file in .local/auth/
    colonnade-dev-auth token [--sub dev] [--scope S …] [--ttl 8h] [--tier gold]
    colonnade-dev-auth api-key --id shop --principal partner:shop --scope orders.read [--tier free]

``init`` (also run by ``make run``) writes, once: an ES256 signing key for users, one per
service identity (orders, gateway), ``jwks.json`` publishing their public halves (what
``AUTH_JWKS`` / ``--auth-jwks`` point at) and an empty ``api-keys.json``. ``token`` prints a
token from the local issuer; without ``--scope`` it holds every scope the contracts name.
``api-key`` stores a new key's SHA-256 with its principal, scopes and tier and prints the key,
once (it cannot be recovered). Never for production: the private keys lie in plain files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from colonnade.runtime.auth import SigningKey, hash_api_key, jwks_document, new_api_key
from colonnade.runtime.config import SettingsError, parse_duration

ROOT = Path(__file__).resolve().parents[2]
ISSUER = "http://127.0.0.1/colonnade-dev"
AUDIENCE = "colonnade"
IDENTITIES = ("users", "orders", "gateway")
#: What each service identity may do at the others.
SERVICE_SCOPES = {"orders": ("catalog.reservations.write",), "gateway": ()}


def default_dir() -> Path:
    """`.local/auth` in the checkout (or under ``COLONNADE_STATE_DIR``)."""
    return Path(os.environ.get("COLONNADE_STATE_DIR", ROOT / ".local")) / "auth"


def contract_scopes() -> list[str]:
    """Every scope a method of the packaged contracts requires."""
    from colonnade.descriptors import descriptor_set
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.edge import contract_policies

    policies = contract_policies(load_registry([descriptor_set()]))
    return sorted({s for p in policies.values() for s in p.scopes})


@dataclass(frozen=True)
class DevAuth:
    """The local issuer's files."""

    root: Path

    @property
    def jwks(self) -> Path:
        return self.root / "jwks.json"

    @property
    def api_keys_file(self) -> Path:
        return self.root / "api-keys.json"

    def pem(self, name: str) -> Path:
        return self.root / f"{name}.pem"

    def key(self, name: str) -> SigningKey:
        return SigningKey.from_file(self.pem(name), f"dev-{name}")

    def init(self) -> DevAuth:
        """Creates what is missing (keys are never replaced: tokens stay valid)."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for name in IDENTITIES:
            if not self.pem(name).exists():
                self.pem(name).write_bytes(SigningKey.generate(f"dev-{name}").private_pem)
                os.chmod(self.pem(name), 0o600)
        self.jwks.write_text(jwks_document(self.key(n) for n in IDENTITIES))
        if not self.api_keys_file.exists():
            self.api_keys_file.write_text(json.dumps({"keys": []}, indent=2))
        return self

    def token(
        self,
        subject: str = "dev",
        scopes: list[str] | None = None,
        ttl: float = 8 * 3600,
        tier: str = "",
    ) -> str:
        """A user token from the local issuer."""
        held = contract_scopes() if scopes is None else scopes
        return self.key("users").mint(
            subject, held, issuer=ISSUER, audience=AUDIENCE, ttl=ttl, tier=tier
        )

    def api_key(self, key_id: str, principal: str, scopes: list[str], tier: str) -> str:
        """Stores a new API key (hashed) and returns its value."""
        data = json.loads(self.api_keys_file.read_text())
        keys = [k for k in data.get("keys", []) if k.get("id") != key_id]
        raw = new_api_key()
        keys.append(
            {
                "id": key_id,
                "sha256": hash_api_key(raw),
                "principal": principal,
                "scopes": scopes,
                "tier": tier,
            }
        )
        self.api_keys_file.write_text(json.dumps({"keys": keys}, indent=2))
        return raw

    def service_env(self, name: str | None = None) -> dict[str, str]:
        """A service's AUTH_* variables (and SERVICE_TOKEN_* when it has an identity)."""
        env = {"AUTH_JWKS": str(self.jwks), "AUTH_ISSUER": ISSUER, "AUTH_AUDIENCE": AUDIENCE}
        if name is not None:
            env |= {
                "SERVICE_TOKEN_KEY_FILE": str(self.pem(name)),
                "SERVICE_TOKEN_KID": f"dev-{name}",
                "SERVICE_TOKEN_SCOPES": ",".join(SERVICE_SCOPES[name]),
            }
        return env

    def gateway_env(self) -> dict[str, str]:
        """The gateway's COLONNADE_GATEWAY_* auth variables."""
        p = "COLONNADE_GATEWAY_"
        return {
            p + "AUTH_JWKS": str(self.jwks),
            p + "AUTH_ISSUER": ISSUER,
            p + "AUTH_AUDIENCE": AUDIENCE,
            p + "API_KEYS_FILE": str(self.api_keys_file),
            p + "SERVICE_TOKEN_KEY_FILE": str(self.pem("gateway")),
            p + "SERVICE_TOKEN_KID": "dev-gateway",
        }


def main(argv: list[str] | None = None) -> int:
    """Entry point of `colonnade-dev-auth`."""
    parser = argparse.ArgumentParser(prog="colonnade-dev-auth", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="default: .local/auth")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init", help="create the local keys, JWKS and API key file")
    token = commands.add_parser("token", help="print a token from the local issuer")
    token.add_argument("--sub", default="dev")
    token.add_argument("--scope", action="append", help="repeatable; default: every scope")
    token.add_argument("--ttl", default="8h", help="a duration: 3600, 30m, 8h")
    token.add_argument("--tier", default="")
    key = commands.add_parser("api-key", help="store a new API key and print it once")
    key.add_argument("--id", required=True)
    key.add_argument("--principal", required=True)
    key.add_argument("--scope", action="append", default=[])
    key.add_argument("--tier", default="standard")
    ns = parser.parse_args(argv)
    auth = DevAuth(ns.dir or default_dir()).init()
    if ns.command == "init":
        print(f"local issuer in {auth.root} (JWKS: {auth.jwks})")
    elif ns.command == "token":
        try:
            ttl = parse_duration("--ttl", ns.ttl, 1, 30 * 86400)
        except SettingsError as exc:
            print(f"colonnade-dev-auth: {exc}", file=sys.stderr)
            return 2
        print(auth.token(ns.sub, ns.scope, ttl, ns.tier))
    else:
        print(auth.api_key(ns.id, ns.principal, ns.scope, ns.tier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
