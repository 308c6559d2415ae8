"""Secrets named by COLONNADE_LAMBDA_SECRETS are read from Secrets Manager (moto in process
stands in for it) at cold start, before any setting is read; a bad reference names itself."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from colonnade.runtime.settings import SettingsError
from colonnade.serverless.function import Function
from colonnade.serverless.secrets import SECRETS_VARIABLE, secret_refs, with_secrets

REGION = "eu-west-1"


@pytest.fixture
def secretsmanager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name=REGION)


def test_named_secrets_become_variables(secretsmanager: Any) -> None:
    catalog = secretsmanager.create_secret(Name="dev/page-tokens/catalog", SecretString="k1,k0")
    orders = secretsmanager.create_secret(Name="dev/page-tokens/orders", SecretString="k2")
    env = {
        "AUTH_MODE": "enforce",
        SECRETS_VARIABLE: f"CATALOG_PAGE_TOKEN_KEYS={catalog['ARN']},"
        f" ORDERS_PAGE_TOKEN_KEYS={orders['ARN']}",
    }
    resolved = with_secrets(env)
    assert resolved["CATALOG_PAGE_TOKEN_KEYS"] == "k1,k0"
    assert resolved["ORDERS_PAGE_TOKEN_KEYS"] == "k2"
    assert resolved["AUTH_MODE"] == "enforce"
    assert "CATALOG_PAGE_TOKEN_KEYS" not in env, "the configuration itself is left as it was"


def test_nothing_named_needs_no_client() -> None:
    def no_client(region: str) -> Any:
        raise AssertionError("no secret is named: no client")

    assert with_secrets({"A": "1"}, client=no_client) == {"A": "1"}


@pytest.mark.parametrize(
    ("raw", "wanted"),
    [
        ("PAGE_TOKEN_KEYS", "NAME=<Secrets Manager secret ARN>"),
        ("page_token_keys=arn:aws:secretsmanager:eu-west-1:123456789012:secret:x", "pairs"),
        ("K=arn:aws:s3:::bucket", "got 'K=arn:aws:s3:::bucket'"),
        (
            "A=arn:aws:secretsmanager:eu-west-1:123456789012:secret:x,"
            "A=arn:aws:secretsmanager:eu-west-1:123456789012:secret:y",
            "names A twice",
        ),
    ],
)
def test_a_bad_reference_is_refused_by_name(raw: str, wanted: str) -> None:
    with pytest.raises(SettingsError, match=SECRETS_VARIABLE) as info:
        secret_refs({SECRETS_VARIABLE: raw})
    assert wanted in str(info.value)


def test_a_secret_also_set_plainly_is_refused() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x"
    with pytest.raises(SettingsError, match="also set plainly"):
        secret_refs({SECRETS_VARIABLE: f"A={arn}", "A": "plain"})


def test_an_unreadable_secret_names_its_variable(secretsmanager: Any) -> None:
    arn = f"arn:aws:secretsmanager:{REGION}:123456789012:secret:missing-AbCdEf"
    with pytest.raises(SettingsError, match=r"^ORDERS_SERVICE_CLIENT_SECRET: cannot read"):
        with_secrets({SECRETS_VARIABLE: f"ORDERS_SERVICE_CLIENT_SECRET={arn}"})


def test_the_cold_start_reads_secrets_before_any_setting(secretsmanager: Any) -> None:
    """A secret's value is what the settings see: here COLONNADE_SERVICES itself, whose bad
    value then stops the cold start before anything connects."""
    secret = secretsmanager.create_secret(Name="services", SecretString="billing")
    function = Function({SECRETS_VARIABLE: f"COLONNADE_SERVICES={secret['ARN']}"})
    with pytest.raises(SettingsError, match="got 'billing'"):
        asyncio.run(function.start())
    assert "COLONNADE_SERVICES" not in function.configured
