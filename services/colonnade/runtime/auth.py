"""Who is calling: JWT bearer tokens and API keys, verified the same way everywhere.

The REST gateway, every service's interceptor and the API Gateway Lambda authorizer verify
credentials with this module, so a token means the same thing at every door.

* **JWTs** are verified with PyJWT (no hand-written crypto). Keys come from a JWKS document,
  a file or an ``https://`` URL (:class:`KeySet`): each key is allowed exactly one algorithm,
  its JWK ``alg`` or the one its type implies (RSA → RS256, EC P-256 → ES256), and a token
  must name that key (``kid``) and that algorithm in its header, so ``alg: none`` and HS/RS
  key confusion never reach a signature check. An unknown ``kid`` refreshes the document at
  most once per ``jwks_min_refresh`` seconds (key rotation without restarts, without letting
  a stream of made-up kids hammer the issuer); the document is also re-read when older than
  ``jwks_max_age``. HS256 with a shared secret exists for local development only and only
  when ``allow_hs256`` is set. ``exp`` and ``sub`` are required, ``nbf`` honoured, both with
  ``leeway`` seconds of clock skew; ``iss`` and ``aud`` are checked when configured.
  Scopes come from ``scope`` (space-separated, RFC 9068) or ``scp`` (a list).
* **Amazon Cognito** access tokens carry no ``aud``: they name their app client in
  ``client_id``, say ``token_use: access`` and prefix every custom scope with the resource
  server's identifier (``colonnade-dev/orders.write``). With ``token_use`` set a token must
  say exactly that (an ID token is not an access token); with ``client_ids`` set its
  ``client_id`` must be one of them; with ``scope_prefix`` set only the scopes carrying the
  prefix count, without it (``openid`` and other servers' scopes are not the contracts').
  Unset, tokens are read as before.
* **API keys** (``x-api-key``) are stored as SHA-256 digests (:class:`ApiKeyStore`), each
  with a principal, scopes and a usage tier. A fast hash is enough: the keys are 256 random
  bits, so there is nothing to brute-force that a slow hash would protect.
* **Service identities**: a service calling another presents a short-lived token it mints
  itself with its own signing key (:class:`ServiceIdentity`), or one an OAuth 2.0 token
  endpoint issues for its client credentials (colonnade.runtime.clientcredentials); the
  callee verifies it like any other token, against the same JWKS.

Verified tokens are remembered (bounded, for at most a minute and never past ``exp``), so a
client's repeated requests cost a dictionary lookup rather than a signature check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger("colonnade.auth")

#: The algorithms a key may be allowed; anything else in a JWKS is skipped with a warning.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"})
HS256 = "HS256"
#: The `kid` the development HS256 secret answers to.
HS256_KID = "local-hs256"
#: Metadata the gateway forwards with the verified caller; never taken from a client.
PRINCIPAL_KEY = "x-colonnade-principal"
SCOPES_KEY = "x-colonnade-scopes"
TIER_KEY = "x-colonnade-tier"
FORWARDED_KEYS = frozenset({PRINCIPAL_KEY, SCOPES_KEY, TIER_KEY})
_CACHE_SECONDS = 60.0
_CACHE_SIZE = 10_000


class AuthError(Exception):
    """No usable credentials (401). `error` is the RFC 6750 error code."""

    def __init__(self, message: str, error: str = "invalid_token") -> None:
        super().__init__(message)
        self.message = message
        self.error = error

    def challenge(self, realm: str = "colonnade") -> str:
        """The `WWW-Authenticate` value for this failure (RFC 6750 §3)."""
        safe = self.message.replace("\\", "").replace('"', "'")
        if self.error == "missing":
            return f'Bearer realm="{realm}"'
        return f'Bearer realm="{realm}", error="{self.error}", error_description="{safe}"'


class ForbiddenError(Exception):
    """Valid credentials without the scopes a method requires (403)."""

    def __init__(self, message: str, missing: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.missing = list(missing)


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified caller."""

    subject: str
    scopes: frozenset[str]
    kind: str  # "token", "api_key" or "service"
    tier: str = "standard"
    key_id: str = ""  # the API key's id (for metering), never its value

    @property
    def is_service(self) -> bool:
        """A service identity (`sub` = `service:<name>`)."""
        return self.subject.startswith("service:")


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Where keys come from and what a token must say (shared by gateway and services)."""

    jwks: str = ""  # a JWKS file, or an https:// (http:// for loopback tests) URL
    issuer: str = ""
    audience: str = ""
    leeway: float = 30.0
    allow_hs256: bool = False  # local development only
    hs256_secret: str = ""
    jwks_max_age: float = 300.0
    jwks_min_refresh: float = 30.0
    api_keys_file: str = ""
    #: Cognito-shaped tokens (see the module docstring); empty: not checked.
    token_use: str = ""
    client_ids: tuple[str, ...] = ()
    scope_prefix: str = ""

    @classmethod
    def of(cls, settings: object) -> AuthSettings:
        """The verification settings of a service's `Settings` or the gateway's config:
        their `auth_<name>` attributes (and `api_keys_file`), those they lack defaulted."""
        values: dict[str, Any] = {
            f.name: getattr(settings, "auth_" + f.name, getattr(settings, f.name, f.default))
            for f in dataclasses.fields(cls)
        }
        values["client_ids"] = tuple(values["client_ids"])
        return cls(**values)

    @property
    def configured(self) -> bool:
        """Something can verify a credential."""
        return bool(self.jwks or (self.allow_hs256 and self.hs256_secret) or self.api_keys_file)

    def check(self) -> AuthSettings:
        """These settings, checked; ValueError naming the setting otherwise."""
        if self.hs256_secret and not self.allow_hs256:
            raise ValueError("the HS256 secret is set but HS256 is not allowed (local only)")
        if self.allow_hs256 and len(self.hs256_secret.encode()) < 32:
            raise ValueError("the HS256 secret must be at least 32 bytes (RFC 7518 §3.2)")
        if self.jwks.startswith("http://") and not is_loopback_url(self.jwks):
            raise ValueError(f"the JWKS URL must be https:// (got {self.jwks!r})")
        if self.leeway < 0 or self.leeway > 300:
            raise ValueError("the leeway must be between 0 and 300 seconds")
        if self.token_use not in {"", "access", "id"}:
            raise ValueError(f"the token use must be access or id (got {self.token_use!r})")
        if self.scope_prefix and not self.scope_prefix.endswith("/"):
            raise ValueError(
                f"the scope prefix is the resource server identifier and a '/' "
                f"(got {self.scope_prefix!r})"
            )
        return self


def is_loopback_url(url: str) -> bool:
    """The URL's host is this machine (plain http:// is allowed there, for tests)."""
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"127.0.0.1", "localhost", "[::1]"}


def default_algorithm(jwk: Mapping[str, Any]) -> str | None:
    """The one algorithm a JWK is allowed: its `alg`, else what its type implies."""
    alg = jwk.get("alg")
    if isinstance(alg, str):
        return alg
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        return "RS256"
    if kty == "EC":
        return {"P-256": "ES256", "P-384": "ES384"}.get(str(crv))
    if kty == "OKP" and crv == "Ed25519":
        return "EdDSA"
    return None


@dataclass(slots=True)
class _Key:
    key: Any  # a PyJWK
    algorithm: str


def parse_jwks(document: bytes | str) -> dict[str, _Key]:
    """`kid` → key of a JWKS document; keys without a kid, symmetric keys (`oct`: HS256 is
    never trusted from a JWKS) and unsupported algorithms are skipped with a warning."""
    data = json.loads(document)
    keys: dict[str, _Key] = {}
    for jwk in data.get("keys", []) if isinstance(data, dict) else []:
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        alg = default_algorithm(jwk) if isinstance(jwk, dict) else None
        if not kid or alg not in ASYMMETRIC or jwk.get("use", "sig") != "sig":
            log.warning("JWKS key skipped", extra={"kid": kid, "alg": alg})
            continue
        try:
            keys[kid] = _Key(jwt.PyJWK(jwk, algorithm=alg), alg)
        except jwt.exceptions.PyJWTError as exc:
            log.warning("JWKS key unusable", extra={"kid": kid, "error": str(exc)})
    return keys


class KeySet:
    """The verification keys of a JWKS file or URL, re-read on an unknown `kid` (at most
    once per `min_refresh` seconds, one fetch at a time) and when older than `max_age`."""

    def __init__(
        self,
        source: str,
        *,
        max_age: float = 300.0,
        min_refresh: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        extra: Mapping[str, _Key] | None = None,
    ) -> None:
        self.source = source
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.clock = clock
        self.extra = dict(extra or {})
        self.keys: dict[str, _Key] = dict(self.extra)
        self.loaded_at = -float("inf")
        self.fetches = 0
        self._inflight: asyncio.Future[None] | None = None

    def _fetch(self) -> bytes:
        if self.source.startswith(("https://", "http://")):
            with urllib.request.urlopen(self.source, timeout=5) as resp:
                data: bytes = resp.read(1 << 20)
                return data
        return Path(self.source).read_bytes()

    def load(self) -> None:
        """Reads the document now (start-up); raises when it cannot be read or parsed."""
        self._install(self._fetch())

    def _install(self, document: bytes) -> None:
        self.keys = {**parse_jwks(document), **self.extra}
        self.loaded_at = self.clock()
        self.fetches += 1

    async def refresh(self) -> None:
        """Re-reads the document unless it was read less than `min_refresh` seconds ago;
        concurrent callers share one fetch. A failed fetch keeps the keys it had."""
        if not self.source or self.clock() - self.loaded_at < self.min_refresh:
            return
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh())
        inflight = self._inflight
        try:
            await asyncio.shield(inflight)
        finally:
            if inflight.done():
                self._inflight = None

    async def _refresh(self) -> None:
        try:
            document = await asyncio.to_thread(self._fetch)
            self._install(document)
        except (OSError, ValueError) as exc:
            self.loaded_at = self.clock()  # do not retry on every request
            log.error("JWKS refresh failed; keeping the keys we have", extra={"error": str(exc)})

    def stale(self) -> bool:
        """The document is older than `max_age`."""
        return bool(self.source) and self.clock() - self.loaded_at >= self.max_age


def _scopes(claims: Mapping[str, Any], prefix: str = "") -> frozenset[str]:
    scope = claims.get("scope")
    scp = claims.get("scp")
    if isinstance(scope, str):
        found = scope.split()
    elif isinstance(scp, list):
        found = [s for s in scp if isinstance(s, str)]
    elif isinstance(scp, str):
        found = scp.split()
    else:
        found = []
    if not prefix:
        return frozenset(found)
    return frozenset(s[len(prefix) :] for s in found if s.startswith(prefix) and s != prefix)


class TokenVerifier:
    """Verifies JWT bearer tokens (see the module docstring for the rules)."""

    def __init__(self, settings: AuthSettings, *, clock: Callable[[], float] = time.monotonic):
        settings.check()
        self.settings = settings
        extra: dict[str, _Key] = {}
        if settings.allow_hs256 and settings.hs256_secret:
            extra[HS256_KID] = _Key(
                jwt.PyJWK({"kty": "oct", "k": _b64(settings.hs256_secret.encode())}, HS256),
                HS256,
            )
        self.keys = KeySet(
            settings.jwks,
            max_age=settings.jwks_max_age,
            min_refresh=settings.jwks_min_refresh,
            clock=clock,
            extra=extra,
        )
        self._cache: dict[str, tuple[Principal, float]] = {}
        options: Any = {"require": ["exp", "sub"]}
        if settings.issuer:
            options["require"].append("iss")
        if settings.audience:
            options["require"].append("aud")
        else:
            options["verify_aud"] = False
        self._options = options

    def start(self) -> None:
        """Loads the JWKS (start-up): a missing or malformed document fails here."""
        if self.settings.jwks:
            self.keys.load()

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified within the last minute (and not expired)."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        return None

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; AuthError saying why otherwise."""
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.exceptions.DecodeError:
            raise AuthError("the bearer token is not a JWT") from None
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the token names no key (kid)")
        if self.keys.stale():
            await self.keys.refresh()
        key = self.keys.keys.get(kid)
        if key is None:
            await self.keys.refresh()  # rotation: a new key may have been published
            key = self.keys.keys.get(kid)
            if key is None:
                raise AuthError(f"unknown signing key {kid!r}")
        if alg != key.algorithm:
            raise AuthError(f"key {kid!r} signs with {key.algorithm}, not {alg}")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self.settings.audience or None,
                issuer=self.settings.issuer or None,
                leeway=self.settings.leeway,
                options=self._options,
            )
        except jwt.exceptions.ExpiredSignatureError:
            raise AuthError("the token has expired") from None
        except jwt.exceptions.ImmatureSignatureError:
            raise AuthError("the token is not valid yet") from None
        except jwt.exceptions.InvalidAudienceError:
            raise AuthError("the token is for another audience") from None
        except jwt.exceptions.InvalidIssuerError:
            raise AuthError("the token is from another issuer") from None
        except jwt.exceptions.InvalidSignatureError:
            raise AuthError("the token's signature does not verify") from None
        except jwt.exceptions.MissingRequiredClaimError as exc:
            raise AuthError(f"the token has no {exc.claim!r} claim") from None
        except jwt.exceptions.PyJWTError as exc:
            raise AuthError(f"the token is invalid: {exc}") from None
        sub = claims["sub"]
        if not isinstance(sub, str) or not sub:
            raise AuthError("the token's subject is empty")
        self._check_cognito(claims)
        # A client credentials token (Cognito: `sub` is the app client's id) is a service.
        service = sub.startswith("service:") or claims.get("client_id") == sub
        principal = Principal(
            subject=sub,
            scopes=_scopes(claims, self.settings.scope_prefix),
            kind="service" if service else "token",
            tier=str(claims.get("tier") or "standard"),
        )
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[token] = (principal, min(float(claims["exp"]), now + _CACHE_SECONDS))
        return principal

    def _check_cognito(self, claims: Mapping[str, Any]) -> None:
        """`token_use` and `client_id`, when the settings ask for them."""
        s = self.settings
        if s.token_use:
            use = claims.get("token_use")
            if use is None:
                raise AuthError(f"the token has no 'token_use' claim ({s.token_use} expected)")
            if use != s.token_use:
                raise AuthError(f"the token is an {use} token, not an {s.token_use} token")
        if s.client_ids:
            client = claims.get("client_id")
            if client is None:
                raise AuthError("the token has no 'client_id' claim")
            if client not in s.client_ids:
                raise AuthError(f"the token is for another client ({client!r})")


def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- API keys ----------------------------------------------------------------------------------

API_KEY_PREFIX = "cnk_"


def hash_api_key(key: str) -> str:
    """The stored form of an API key: its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    """A fresh API key: a prefix (so leaked keys are recognisable) and 256 random bits."""
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    """One stored API key (never its value)."""

    id: str
    sha256: str
    principal: str
    scopes: tuple[str, ...]
    tier: str

    def as_json(self) -> dict[str, Any]:
        """The entry as the key file stores it."""
        return {
            "id": self.id,
            "sha256": self.sha256,
            "principal": self.principal,
            "scopes": list(self.scopes),
            "tier": self.tier,
        }


@dataclass
class ApiKeyStore:
    """API keys by digest, from a JSON file: ``{"keys": [{"id", "sha256", "principal",
    "scopes", "tier"}, …]}``. A store read from a file re-reads it when it changes (checked
    at most every `RELOAD_SECONDS`), so keys are added and revoked without a restart; a
    file that no longer parses keeps the keys already loaded (logged)."""

    entries: dict[str, ApiKeyEntry] = field(default_factory=dict)
    path: Path | None = None
    _stamp: float = 0.0
    _checked: float = 0.0

    RELOAD_SECONDS = 5.0

    @classmethod
    def from_file(cls, path: str | Path) -> ApiKeyStore:
        """Reads a key file; ValueError naming the entry that is malformed."""
        p = Path(path)
        stamp = p.stat().st_mtime
        store = cls.from_document(p.read_text())
        store.path, store._stamp, store._checked = p, stamp, time.monotonic()
        return store

    @classmethod
    def from_document(cls, text: str) -> ApiKeyStore:
        """A store of a key file's content (in AWS a secret's value, given to the task as a
        variable: changed keys take a new deployment); ValueError when malformed."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError('an API key document is {"keys": [...]}')
        return cls.from_entries(data.get("keys", []))

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self.path is None or now - self._checked < self.RELOAD_SECONDS:
            return
        self._checked = now
        try:
            stamp = self.path.stat().st_mtime
            if stamp == self._stamp:
                return
            fresh = ApiKeyStore.from_file(self.path)
        except (OSError, ValueError) as exc:
            log.error("API key file unreadable; keeping the keys loaded", extra={"error": str(exc)})
            return
        self.entries, self._stamp = fresh.entries, fresh._stamp
        log.info("API keys reloaded", extra={"keys": len(self.entries)})

    @classmethod
    def from_entries(cls, items: Iterable[Mapping[str, Any]]) -> ApiKeyStore:
        """A store of the given (JSON) entries."""
        entries: dict[str, ApiKeyEntry] = {}
        for i, item in enumerate(items):
            try:
                entry = ApiKeyEntry(
                    id=str(item["id"]),
                    sha256=str(item["sha256"]).lower(),
                    principal=str(item["principal"]),
                    scopes=tuple(str(s) for s in item.get("scopes", [])),
                    tier=str(item.get("tier", "standard")),
                )
            except (KeyError, TypeError) as exc:
                raise ValueError(f"API key entry {i}: missing or malformed {exc}") from None
            if len(entry.sha256) != 64:
                raise ValueError(f"API key entry {entry.id!r}: sha256 must be 64 hex digits")
            entries[entry.sha256] = entry
        return cls(entries)

    def verify(self, key: str) -> Principal:
        """The principal of an API key; AuthError when it is unknown."""
        self._maybe_reload()
        entry = self.entries.get(hash_api_key(key))
        if entry is None:
            raise AuthError("unknown API key")
        return Principal(
            subject=entry.principal,
            scopes=frozenset(entry.scopes),
            kind="api_key",
            tier=entry.tier,
            key_id=entry.id,
        )


# -- minting (service identities, local development) --------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key that signs tokens, with the `kid` its public half is published under."""

    kid: str
    algorithm: str
    private_pem: bytes

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        """A fresh EC P-256 (ES256) key."""
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(kid or f"es256-{secrets.token_hex(4)}", "ES256", pem)

    @classmethod
    def from_file(cls, path: str | Path, kid: str) -> SigningKey:
        """A PEM private key file (EC P-256 → ES256, RSA → RS256)."""
        pem = Path(path).read_bytes()
        private = serialization.load_pem_private_key(pem, password=None)
        alg = "ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256"
        return cls(kid, alg, pem)

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK with `kid`, `alg` and `use`, for a JWKS document."""
        private = serialization.load_pem_private_key(self.private_pem, password=None)
        algo = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algo.to_jwk(private.public_key()))
        jwk.update({"kid": self.kid, "alg": self.algorithm, "use": "sig"})
        return jwk

    def mint(
        self,
        subject: str,
        scopes: Iterable[str],
        *,
        issuer: str = "",
        audience: str = "",
        ttl: float = 3600,
        tier: str = "",
        now: float | None = None,
    ) -> str:
        """A signed token for `subject` holding `scopes`, valid for `ttl` seconds."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "sub": subject,
            "scope": " ".join(scopes),
            "iat": issued,
            "nbf": issued,
            "exp": issued + int(ttl),
            "jti": secrets.token_hex(8),
        }
        if issuer:
            claims["iss"] = issuer
        if audience:
            claims["aud"] = audience
        if tier:
            claims["tier"] = tier
        return jwt.encode(
            claims, self.private_pem, algorithm=self.algorithm, headers={"kid": self.kid}
        )


def jwks_document(keys: Iterable[SigningKey]) -> str:
    """A JWKS document publishing the public halves of `keys`."""
    return json.dumps({"keys": [k.public_jwk() for k in keys]}, indent=2)


class TokenSource(Protocol):
    """Where a service's own credential for calling others comes from."""

    def authorization(self) -> str:
        """The `authorization` metadata value (`Bearer <token>`), without waiting."""
        ...


class ServiceIdentity:
    """A service's own credential for calling others: a token it mints with its signing
    key for `service:<name>`, re-minted a minute before it expires."""

    def __init__(
        self,
        name: str,
        key: SigningKey,
        scopes: Iterable[str],
        *,
        issuer: str = "",
        audience: str = "",
        ttl: float = 600,
    ) -> None:
        self.subject = f"service:{name}"
        self.key = key
        self.scopes = tuple(scopes)
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._token = ""
        self._renew_at = 0.0

    def token(self) -> str:
        """The current token (minted when there is none or it is about to expire)."""
        now = time.time()
        if now >= self._renew_at:
            self._token = self.key.mint(
                self.subject,
                self.scopes,
                issuer=self.issuer,
                audience=self.audience,
                ttl=self.ttl,
                now=now,
            )
            self._renew_at = now + max(self.ttl - 60, self.ttl / 2)
        return self._token

    def authorization(self) -> str:
        """The `authorization` metadata value."""
        return "Bearer " + self.token()


def bearer_token(value: str | bytes | None) -> str | None:
    """The token of an `Authorization: Bearer …` value; None for anything else."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
