"""The authentication step: who calls, and may they call this method?

Credentials are `Authorization: Bearer <JWT>` or `x-api-key: <key>`, verified by
:mod:`colonnade.runtime.auth` (the same code the services and the Lambda authorizer use).

* none, on a method whose policy is public → the call goes on anonymously;
* none, or bad ones, on any other method → 401 UNAUTHENTICATED with `WWW-Authenticate`
  (RFC 6750) and a google.rpc.Status body; bad credentials on a public method are refused
  too, so a client learns its token is wrong instead of silently calling anonymously;
* valid, without every scope the method's policy names → 403 PERMISSION_DENIED, the
  missing scopes in an `ErrorInfo` detail and in `WWW-Authenticate: … insufficient_scope`.

The verified caller goes to the backend as `x-colonnade-principal`, `x-colonnade-scopes`
and `x-colonnade-tier` metadata; copies a client sent (as `Grpc-Metadata-x-colonnade-*`)
are removed first, on every route. With a service identity the gateway presents its own
token (`service:gateway`, or in AWS its Cognito app client's, which the services trust to
delegate) instead of the client's
`Authorization`; without one the client's header goes on as grpc-gateway sends it.
"""

from __future__ import annotations

from colonnade.gateway.errors import StatusError
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.pipeline import Step, StepResult
from colonnade.gateway.status import Code
from colonnade.runtime.auth import (
    FORWARDED_KEYS,
    PRINCIPAL_KEY,
    SCOPES_KEY,
    TIER_KEY,
    ApiKeyStore,
    AuthError,
    Principal,
    TokenSource,
    TokenVerifier,
    bearer_token,
)
from colonnade.runtime.policy import EdgePolicy

_FORWARDED = frozenset(k.encode() for k in FORWARDED_KEYS)
_STRIP = _FORWARDED | {b"authorization"}
REALM = "colonnade"


def unauthenticated(exc: AuthError) -> StatusError:
    """401: the Status body, `WWW-Authenticate` and an ErrorInfo naming the reason."""
    return StatusError(
        Code.UNAUTHENTICATED,
        exc.message,
        headers=[(b"www-authenticate", exc.challenge(REALM).encode("latin-1", "replace"))],
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": (
                    "MISSING_CREDENTIALS" if exc.error == "missing" else "INVALID_CREDENTIALS"
                ),
                "domain": "colonnade",
                "metadata": {},
            }
        ],
    )


def forbidden(principal: Principal, policy: EdgePolicy, missing: list[str]) -> StatusError:
    """403: valid credentials without the scopes the method requires."""
    need = " ".join(policy.scopes)
    return StatusError(
        Code.PERMISSION_DENIED,
        f"{principal.subject} lacks scope {' '.join(missing)} for {policy.method}",
        headers=[
            (
                b"www-authenticate",
                f'Bearer realm="{REALM}", error="insufficient_scope", scope="{need}"'.encode(
                    "latin-1", "replace"
                ),
            )
        ],
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "INSUFFICIENT_SCOPE",
                "domain": "colonnade",
                "metadata": {"missing": " ".join(missing), "method": policy.method},
            }
        ],
    )


def caller_key(ex: Exchange) -> str:
    """Who asked, for counters and cache keys: `key:<API key id>`, `sub:<token subject>`,
    or `anonymous`."""
    p = ex.principal
    if p is None:
        return "anonymous"
    return f"key:{p.key_id}" if p.key_id else f"sub:{p.subject}"


class Authenticate(Step):
    """Verifies the caller against the route's policy (see the module docstring)."""

    name = "auth"

    def __init__(
        self,
        verifier: TokenVerifier | None,
        api_keys: ApiKeyStore | None,
        identity: TokenSource | None = None,
    ) -> None:
        self.verifier = verifier
        self.api_keys = api_keys
        self.identity = identity

    def request(self, ex: Exchange) -> StepResult:
        policy = ex.endpoint.policy
        assert policy is not None  # set for every endpoint when the policy steps exist
        md = ex.metadata
        strip = _STRIP if self.identity is not None else _FORWARDED
        if any(k in strip for k, _ in md):
            md[:] = [(k, v) for k, v in md if k not in strip]
        auth = api_key = None
        for name, value in ex.headers:
            if name == b"authorization":
                auth = value
            elif name == b"x-api-key":
                api_key = value
        if auth is None and api_key is None:
            if policy.public:
                return None
            raise unauthenticated(
                AuthError(
                    f"{policy.method} needs credentials (a bearer token or an API key)", "missing"
                )
            )
        if auth is not None:
            token = bearer_token(auth)
            if token is None:
                raise unauthenticated(
                    AuthError("Authorization must be 'Bearer <token>'", "invalid_request")
                )
            if self.verifier is None:
                raise unauthenticated(AuthError("this gateway accepts no bearer tokens"))
            principal = self.verifier.cached(token)
            if principal is None:
                return self._verify(ex, policy, token)
            self._admit(ex, policy, principal)
            return None
        assert api_key is not None
        if self.api_keys is None:
            raise unauthenticated(AuthError("this gateway accepts no API keys"))
        try:
            principal = self.api_keys.verify(api_key.decode("latin-1"))
        except AuthError as exc:
            raise unauthenticated(exc) from None
        self._admit(ex, policy, principal)
        return None

    async def _verify(self, ex: Exchange, policy: EdgePolicy, token: str) -> None:
        assert self.verifier is not None
        try:
            principal = await self.verifier.verify(token)
        except AuthError as exc:
            raise unauthenticated(exc) from None
        self._admit(ex, policy, principal)

    def _admit(self, ex: Exchange, policy: EdgePolicy, principal: Principal) -> None:
        if not policy.public:
            missing = policy.missing(principal.scopes)
            if missing:
                raise forbidden(principal, policy, missing)
        ex.principal = principal
        md = ex.metadata
        md.append((PRINCIPAL_KEY.encode(), principal.subject.encode("latin-1", "replace")))
        md.append((SCOPES_KEY.encode(), " ".join(sorted(principal.scopes)).encode()))
        md.append((TIER_KEY.encode(), principal.tier.encode("latin-1", "replace")))
        if self.identity is not None:
            md.append((b"authorization", self.identity.authorization().encode()))
