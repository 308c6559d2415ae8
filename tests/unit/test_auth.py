"""Token and API key verification (colonnade.runtime.auth) with real keys and real PyJWT.

Every bad token is refused with a reason; none reaches a signature check with a key it was
not meant for. The JWKS is a real file, rewritten to rotate keys.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from colonnade.runtime.auth import (
    ApiKeyStore,
    AuthError,
    AuthSettings,
    ServiceIdentity,
    SigningKey,
    TokenVerifier,
    bearer_token,
    hash_api_key,
    jwks_document,
    new_api_key,
)
from colonnade_tools.devstack.issuer import Issuer

ISS = "https://issuer.test"
AUD = "colonnade-api"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rsa_key(kid: str) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(kid, "RS256", pem)


Keys = dict[str, SigningKey]
Setup = tuple[TokenVerifier, Path, "Clock"]


@pytest.fixture(scope="module")
def keys() -> dict[str, SigningKey]:
    return {"ec": SigningKey.generate("ec-1"), "rsa": rsa_key("rsa-1")}


@pytest.fixture
def setup(tmp_path: Path, keys: dict[str, SigningKey]) -> tuple[TokenVerifier, Path, Clock]:
    path = tmp_path / "jwks.json"
    path.write_text(jwks_document(keys.values()))
    clock = Clock()
    verifier = TokenVerifier(
        AuthSettings(jwks=str(path), issuer=ISS, audience=AUD, leeway=5, jwks_min_refresh=30),
        clock=clock,
    )
    verifier.start()
    return verifier, path, clock


def mint(key: SigningKey, **claims: object) -> str:
    now = int(time.time())
    body: dict[str, object] = {
        "sub": "alice",
        "scope": "catalog.products.write orders.read",
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "exp": now + 600,
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key.private_pem, algorithm=key.algorithm, headers={"kid": key.kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_valid_token_gives_its_subject_and_scopes(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    for key in keys.values():
        principal = await verifier.verify(mint(key, tier="gold"))
        assert principal.subject == "alice"
        assert principal.scopes == {"catalog.products.write", "orders.read"}
        assert principal.tier == "gold" and principal.kind == "token"
    assert verifier.cached(mint(keys["ec"], sub="bob")) is None


async def test_scp_list_claim_is_read_too(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    principal = await verifier.verify(mint(keys["ec"], scope=None, scp=["a.b", "c.d"]))
    assert principal.scopes == {"a.b", "c.d"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        # times relative to when the test runs (parameters are built at collection, which
        # may be many minutes earlier in a long session): resolved in the test
        ({"exp": -60}, "expired"),
        ({"nbf": +120}, "not valid yet"),
        ({"iss": "https://evil.test"}, "another issuer"),
        ({"aud": "someone-else"}, "another audience"),
        ({"exp": None}, "'exp'"),
        ({"sub": None}, "'sub'"),
        ({"iss": None}, "'iss'"),
    ],
)
async def test_claims_are_checked(
    setup: Setup, keys: Keys, claims: dict[str, object], reason: str
) -> None:
    verifier, _, _ = setup
    now = int(time.time())
    claims = {
        k: now + v if k in ("exp", "nbf") and isinstance(v, int) else v for k, v in claims.items()
    }
    with pytest.raises(AuthError, match=reason):
        await verifier.verify(mint(keys["ec"], **claims))


async def test_leeway_tolerates_small_clock_skew(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    principal = await verifier.verify(mint(keys["ec"], exp=int(time.time()) - 2))
    assert principal.subject == "alice"


async def test_a_signature_by_another_key_is_refused(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    impostor = SigningKey.generate("ec-1")  # same kid, other key
    with pytest.raises(AuthError, match="signature does not verify"):
        await verifier.verify(mint(impostor))


async def test_a_tampered_payload_is_refused(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    header, payload, signature = mint(keys["ec"]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "admin everything"
    forged = ".".join([header, b64(json.dumps(claims).encode()), signature])
    with pytest.raises(AuthError, match="signature does not verify"):
        await verifier.verify(forged)


async def test_alg_none_is_refused(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    header = b64(json.dumps({"alg": "none", "kid": "ec-1", "typ": "JWT"}).encode())
    claims = {"sub": "alice", "iss": ISS, "aud": AUD, "exp": int(time.time()) + 60}
    token = f"{header}.{b64(json.dumps(claims).encode())}."
    with pytest.raises(AuthError, match="signs with ES256, not none"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_rsa_public_key_is_refused(setup: Setup, keys: Keys) -> None:
    """The classic key confusion: the public key used as an HMAC secret."""
    verifier, _, _ = setup
    public_pem = (
        serialization.load_pem_private_key(keys["rsa"].private_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    import hashlib
    import hmac

    header = b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    claims = {"sub": "alice", "iss": ISS, "aud": AUD, "exp": int(time.time()) + 60}
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthError, match="signs with RS256, not HS256"):
        await verifier.verify(f"{signing_input}.{b64(mac)}")


async def test_hs256_needs_explicit_local_opt_in(tmp_path: Path) -> None:
    secret = "a-local-development-secret-of-32-bytes!"
    token = jwt.encode(
        {"sub": "dev", "exp": int(time.time()) + 60, "scope": "x"},
        secret,
        algorithm="HS256",
        headers={"kid": "local-hs256"},
    )
    jwks = tmp_path / "jwks.json"
    jwks.write_text(jwks_document([SigningKey.generate("ec-1")]))
    plain = TokenVerifier(AuthSettings(jwks=str(jwks)))
    plain.start()
    with pytest.raises(AuthError, match="unknown signing key 'local-hs256'"):
        await plain.verify(token)
    with pytest.raises(ValueError, match="not allowed"):
        TokenVerifier(AuthSettings(hs256_secret=secret))
    local = TokenVerifier(AuthSettings(allow_hs256=True, hs256_secret=secret))
    assert (await local.verify(token)).subject == "dev"


async def test_an_unknown_kid_is_refused_and_a_rotation_is_picked_up(
    setup: Setup, keys: Keys
) -> None:
    verifier, path, clock = setup
    new = SigningKey.generate("ec-2")
    token = mint(new)
    with pytest.raises(AuthError, match="unknown signing key 'ec-2'"):
        await verifier.verify(token)
    fetches = verifier.keys.fetches
    # The issuer publishes the new key. Within the refresh interval the document is not
    # re-read (a stream of made-up kids must not hammer the issuer)...
    path.write_text(jwks_document([*keys.values(), new]))
    clock.now += 10
    with pytest.raises(AuthError, match="unknown signing key"):
        await verifier.verify(token)
    assert verifier.keys.fetches == fetches
    # ...after it, the unknown kid triggers one re-read and the token verifies, no restart.
    clock.now += 30
    assert (await verifier.verify(token)).subject == "alice"
    assert verifier.keys.fetches == fetches + 1
    # An old key removed from the document stops verifying once it is re-read.
    path.write_text(jwks_document([new]))
    clock.now += 301  # older than jwks_max_age: re-read on the next verification
    with pytest.raises(AuthError, match="unknown signing key 'ec-1'"):
        await verifier.verify(mint(keys["ec"], sub="carol"))


async def test_a_token_without_kid_or_not_a_jwt_is_refused(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    no_kid = jwt.encode({"sub": "a"}, keys["ec"].private_pem, algorithm="ES256")
    with pytest.raises(AuthError, match="names no key"):
        await verifier.verify(no_kid)
    with pytest.raises(AuthError, match="not a JWT"):
        await verifier.verify("not-a-token")


async def test_service_identity_tokens_verify_as_services(setup: Setup, keys: Keys) -> None:
    verifier, _, _ = setup
    identity = ServiceIdentity(
        "orders", keys["ec"], ["catalog.reservations.write"], issuer=ISS, audience=AUD
    )
    principal = await verifier.verify(identity.token())
    assert principal.subject == "service:orders" and principal.is_service
    assert principal.scopes == {"catalog.reservations.write"}
    assert identity.token() == identity.token()  # re-used until close to expiry
    assert bearer_token(identity.authorization()) == identity.token()
    assert bearer_token("Basic abc") is None and bearer_token(b"bearer  x ") == "x"


def test_api_keys_are_stored_hashed_and_verified() -> None:
    key = new_api_key()
    store = ApiKeyStore.from_entries(
        [
            {
                "id": "k1",
                "sha256": hash_api_key(key),
                "principal": "acme-shop",
                "scopes": ["orders.read"],
                "tier": "gold",
            }
        ]
    )
    assert key not in json.dumps([e.as_json() for e in store.entries.values()])
    principal = store.verify(key)
    assert (principal.subject, principal.tier, principal.key_id) == ("acme-shop", "gold", "k1")
    assert principal.scopes == {"orders.read"} and principal.kind == "api_key"
    with pytest.raises(AuthError, match="unknown API key"):
        store.verify(key + "x")
    with pytest.raises(ValueError, match="sha256"):
        ApiKeyStore.from_entries([{"id": "k", "sha256": "abc", "principal": "p"}])


def test_the_api_key_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    import os

    path = tmp_path / "keys.json"
    first, second = new_api_key(), new_api_key()

    def write(*keys: tuple[str, str], text: str | None = None) -> None:
        entries = [{"id": i, "sha256": hash_api_key(k), "principal": i} for i, k in keys]
        path.write_text(text if text is not None else json.dumps({"keys": entries}))
        stamp = path.stat().st_mtime + 10 + len(keys)
        os.utime(path, (stamp, stamp))

    write(("one", first))
    store = ApiKeyStore.from_file(path)
    store.RELOAD_SECONDS = 0
    assert store.verify(first).subject == "one"
    write(("two", second))  # the first revoked, a second added: no restart
    assert store.verify(second).subject == "two"
    with pytest.raises(AuthError):
        store.verify(first)
    write(text="{not json")  # a broken file keeps what was loaded
    assert store.verify(second).subject == "two"


# -- Amazon Cognito's access tokens ------------------------------------------------------------

POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
PREFIX = "colonnade-dev/"


@pytest.fixture
def cognito(tmp_path: Path, keys: Keys) -> tuple[TokenVerifier, Issuer]:
    """A verifier set up as the environments set it (no audience: Cognito's access tokens
    have none), and tokens signed with a local key in Cognito's claim shape."""
    issuer = Issuer(POOL, {}, key=keys["rsa"])
    path = tmp_path / "jwks.json"
    path.write_text(jwks_document([keys["rsa"]]))
    verifier = TokenVerifier(
        AuthSettings(
            jwks=str(path),
            issuer=POOL,
            token_use="access",
            client_ids=("gateway-client", "orders-client", "web-client"),
            scope_prefix=PREFIX,
        )
    )
    verifier.start()
    return verifier, issuer


async def test_a_cognito_access_token_gives_its_unprefixed_scopes(
    cognito: tuple[TokenVerifier, Issuer],
) -> None:
    verifier, issuer = cognito
    user = issuer.user_token(
        "web-client", "alice", ["openid", f"{PREFIX}orders.write", "other-api/orders.read"]
    )
    principal = await verifier.verify(user)
    # Only the resource server's own scopes count, without its prefix.
    assert principal.scopes == {"orders.write"} and principal.kind == "token"
    service = await verifier.verify(
        issuer.access_token("orders-client", [f"{PREFIX}catalog.reservations.write"])
    )
    assert service.subject == "orders-client" and service.kind == "service"
    assert service.scopes == {"catalog.reservations.write"}


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"token_use": None}, "no 'token_use' claim"),
        ({"token_use": "id", "aud": "web-client"}, "an id token, not an access token"),
        ({"client_id": None}, "no 'client_id' claim"),
        ({"client_id": "someone-elses-client"}, "another client"),
        ({"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other"}, "issuer"),
    ],
)
async def test_cognito_claims_are_checked(
    cognito: tuple[TokenVerifier, Issuer], claims: dict[str, object], reason: str
) -> None:
    verifier, issuer = cognito
    # The rest exactly as Cognito writes it (None: the claim is left out).
    token = issuer.access_token("web-client", [f"{PREFIX}orders.read"], **claims)
    with pytest.raises(AuthError, match=reason):
        await verifier.verify(token)


async def test_without_the_cognito_settings_tokens_read_as_before(
    keys: Keys, tmp_path: Path
) -> None:
    """Unset, nothing is required of token_use or client_id and scopes are taken whole."""
    path = tmp_path / "jwks.json"
    path.write_text(jwks_document([keys["rsa"]]))
    verifier = TokenVerifier(AuthSettings(jwks=str(path), issuer=POOL))
    verifier.start()
    token = Issuer(POOL, {}, key=keys["rsa"]).access_token("c", [f"{PREFIX}orders.read"])
    assert (await verifier.verify(token)).scopes == {f"{PREFIX}orders.read"}


def test_the_scope_prefix_ends_with_a_slash_and_token_use_is_known() -> None:
    with pytest.raises(ValueError, match="scope prefix"):
        AuthSettings(scope_prefix="colonnade-dev").check()
    with pytest.raises(ValueError, match="token use"):
        AuthSettings(token_use="refresh").check()


def test_an_api_key_store_is_read_from_a_document_too() -> None:
    """In AWS the store is a secret's value given to the gateway as a variable, not a file."""
    from colonnade.gateway.config import ConfigError, load

    key = new_api_key()
    entry = {"id": "web/spa", "sha256": hash_api_key(key), "principal": "apikey:web/spa"}
    document = json.dumps({"keys": [{**entry, "scopes": [], "tier": "web"}]})
    principal = ApiKeyStore.from_document(document).verify(key)
    assert principal.subject == "apikey:web/spa" and principal.tier == "web"
    assert not principal.scopes
    with pytest.raises(ValueError):
        ApiKeyStore.from_document("[]")
    env = {"COLONNADE_GATEWAY_BACKENDS": "x=h:1", "COLONNADE_GATEWAY_API_KEYS": document}
    assert load(env=env).api_keys == document
    with pytest.raises(ConfigError, match="not both"):
        load(env={**env, "COLONNADE_GATEWAY_API_KEYS_FILE": "/k.json"})
