"""The rehearsal's stand-in for the token issuer: a task definition that verifies the
environment's Cognito tokens is pointed at the local issuer (and told so), never left without
auth; a secret it cannot stand in for stops the rehearsal."""

from __future__ import annotations

from pathlib import Path

import pytest

from colonnade_tools.rehearsal import (
    ISSUER_CA_PATH,
    ContainerSpec,
    LocalServers,
    RehearsalError,
    Substitutions,
    adapt,
    read_app_clients,
)

POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:colonnade-dev/identity/"


def spec(environment: dict[str, str], secrets: dict[str, str]) -> ContainerSpec:
    return ContainerSpec(
        family="colonnade-dev-orders",
        name="orders",
        image="repo@sha256:1",
        command=("colonnade-orders",),
        entry_point=(),
        environment=environment,
        secrets=secrets,
        user="10001:10001",
        read_only=True,
        tmpfs=("/tmp",),
        ports=(50052,),
        health_check=None,
        init=True,
        cap_drop=("ALL",),
        health_timeout=60,
    )


def servers(issuer_url: str = "https://10.88.0.1:4443") -> LocalServers:
    return LocalServers(
        address="10.88.0.1",
        db_host="db",
        db_port=5432,
        admin_secret="{}",
        passwords={},
        cache_host="cache",
        cache_port=11211,
        ca_file=Path("/tmp/ca.pem"),
        issuer_url=issuer_url,
        client_secrets={"ordersclient": "local-secret"} if issuer_url else {},
    )


ORDERS = {
    "AUTH_MODE": "enforce",
    "AUTH_JWKS": f"{POOL}/.well-known/jwks.json",
    "AUTH_ISSUER": POOL,
    "SERVICE_TOKEN_URL": "https://colonnade-dev-1.auth.eu-west-1.amazoncognito.com/oauth2/token",
    "SERVICE_CLIENT_ID": "ordersclient",
}


def test_the_issuer_settings_point_at_the_stand_in_and_say_so() -> None:
    subs = Substitutions()
    env, _ = adapt(spec(ORDERS, {"SERVICE_CLIENT_SECRET": ARN + "orders"}), "img", servers(), subs)
    assert env["AUTH_JWKS"] == "https://10.88.0.1:4443/eu-west-1_AbC/.well-known/jwks.json"
    assert env["SERVICE_TOKEN_URL"] == "https://10.88.0.1:4443/oauth2/token"
    assert env["SERVICE_CLIENT_SECRET"] == "local-secret"
    # What the tokens must say is the plan's, and auth stays on.
    assert env["AUTH_ISSUER"] == POOL and env["AUTH_MODE"] == "enforce"
    assert env["SSL_CERT_FILE"] == ISSUER_CA_PATH
    table = subs.table()
    for row in ("token issuer keys (JWKS)", "token endpoint", "orders client secret", "issuer CA"):
        assert f"\n{row} " in table, table


def test_without_a_stand_in_or_with_an_unknown_client_the_rehearsal_stops() -> None:
    with pytest.raises(RehearsalError, match="token issuer the state lacks"):
        adapt(spec(ORDERS, {}), "img", servers(issuer_url=""), Substitutions())
    other = {**ORDERS, "SERVICE_CLIENT_ID": "someone"}
    with pytest.raises(RehearsalError, match="not in the state"):
        adapt(spec(other, {"SERVICE_CLIENT_SECRET": ARN + "x"}), "img", servers(), Substitutions())


def test_the_app_clients_are_read_from_the_state() -> None:
    shown = {
        "values": {
            "root_module": {
                "child_modules": [
                    {
                        "resources": [
                            {
                                "type": "aws_cognito_user_pool_client",
                                "mode": "managed",
                                "values": {
                                    "id": "ordersclient",
                                    "allowed_oauth_scopes": ["colonnade-dev/a.b"],
                                },
                            }
                        ]
                    }
                ]
            }
        }
    }
    assert read_app_clients(shown) == {"ordersclient": frozenset({"colonnade-dev/a.b"})}


def test_every_container_of_a_service_gets_the_same_local_page_token_keys() -> None:
    """ECS gives every task of a service the one secret: the stand-in is one random key per
    service (long enough for the runtime), never the planned ARN, and says so."""
    shared = servers()
    subs = Substitutions()
    keys = {"SERVICE_CLIENT_SECRET": ARN + "orders", "PAGE_TOKEN_KEYS": ARN + "page-tokens"}
    first, _ = adapt(spec(ORDERS, keys), "img", shared, subs)
    second, _ = adapt(spec(ORDERS, keys), "img", shared, Substitutions())
    assert first["PAGE_TOKEN_KEYS"] == second["PAGE_TOKEN_KEYS"]
    assert len(first["PAGE_TOKEN_KEYS"]) >= 32 and "," not in first["PAGE_TOKEN_KEYS"]
    assert servers().page_token_keys == {}
    other, _ = adapt(spec(ORDERS, keys), "img", servers(), Substitutions())
    assert other["PAGE_TOKEN_KEYS"] != first["PAGE_TOKEN_KEYS"]
    assert "\norders page-token keys " in subs.table(), subs.table()
