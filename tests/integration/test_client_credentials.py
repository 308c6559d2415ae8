"""A service identity from client credentials, against a token endpoint on loopback that
answers like Amazon Cognito's ``/oauth2/token`` (colonnade_tools.devstack.issuer)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from colonnade.runtime.auth import AuthError, AuthSettings, TokenVerifier
from colonnade.runtime.client import identity_from_settings
from colonnade.runtime.clientcredentials import ClientCredentials
from colonnade.runtime.settings import Settings, SettingsError
from colonnade_tools.devstack.issuer import AppClient, Issuer

pytestmark = pytest.mark.integration

POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
PREFIX = "colonnade-dev/"
RESERVE = PREFIX + "catalog.reservations.write"


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    pool = Issuer(POOL, {"orders-client": AppClient("s3cret", frozenset({RESERVE}))}, ttl=3600)
    url = pool.start()
    yield pool, url
    pool.stop()


async def test_the_token_is_fetched_with_basic_auth_and_verifies_as_cognitos(
    issuer: tuple[Issuer, str],
) -> None:
    pool, url = issuer
    settings = Settings.from_env(
        {
            "SERVICE_TOKEN_URL": f"{url}/oauth2/token",
            "SERVICE_CLIENT_ID": "orders-client",
            "SERVICE_CLIENT_SECRET": "s3cret",
            "SERVICE_TOKEN_SCOPES": "catalog.reservations.write",
            "AUTH_SCOPE_PREFIX": PREFIX,
        },
        service_name="orders",
    )
    source = identity_from_settings(settings)
    assert isinstance(source, ClientCredentials)
    await source.start()
    try:
        header = source.authorization()
        # One request: client credentials grant, the prefixed scope, nothing else.
        assert pool.requests == [
            ("orders-client", {"grant_type": "client_credentials", "scope": RESERVE})
        ]
        # Calls only read the cached token.
        assert [source.authorization() for _ in range(100)] == [header] * 100
        assert source.fetches == 1
        verifier = TokenVerifier(
            AuthSettings(
                jwks=f"{url}/eu-west-1_AbCdEf123/.well-known/jwks.json",
                issuer=POOL,
                token_use="access",
                client_ids=("orders-client",),
                scope_prefix=PREFIX,
            )
        )
        verifier.start()
        principal = await verifier.verify(header.removeprefix("Bearer "))
        assert principal.subject == "orders-client" and principal.kind == "service"
        assert principal.scopes == {"catalog.reservations.write"}
    finally:
        await source.close()


async def test_the_token_is_refreshed_in_the_background_before_it_expires(
    issuer: tuple[Issuer, str],
) -> None:
    pool, url = issuer
    pool.ttl = 2  # refreshed half-way (a minute before expiry for real lifetimes)
    source = ClientCredentials(f"{url}/oauth2/token", "orders-client", "s3cret", [RESERVE])
    await source.start()
    try:
        first = source.authorization()
        assert source.refresh_at <= source.expires_at - 0.9
        for _ in range(60):
            await asyncio.sleep(0.1)
            if source.fetches >= 2:
                break
        assert source.fetches >= 2 and source.authorization() != first
    finally:
        await source.close()
    assert source._task is None


@pytest.mark.parametrize(
    ("secret", "scopes", "reason"),
    [
        ("wrong", [RESERVE], "invalid_client"),
        ("s3cret", [PREFIX + "orders.write"], "invalid_scope"),
    ],
)
async def test_a_refusal_stops_the_start_with_the_endpoints_reason(
    issuer: tuple[Issuer, str], secret: str, scopes: list[str], reason: str
) -> None:
    _, url = issuer
    source = ClientCredentials(f"{url}/oauth2/token", "orders-client", secret, scopes)
    with pytest.raises(AuthError, match=reason):
        await source.start()
    with pytest.raises(AuthError, match="no token yet"):
        source.authorization()


def test_the_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="must be https"):
        ClientCredentials("http://auth.example/oauth2/token", "c", "s", [])
    with pytest.raises(SettingsError, match="SERVICE_CLIENT_ID"):
        Settings.from_env({"SERVICE_TOKEN_URL": "https://auth.example/oauth2/token"})
