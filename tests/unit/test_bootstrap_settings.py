"""``colonnade-migrate``'s settings: every bad value names its variable and leaks no secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from colonnade.runtime.bootstrap import (
    BootstrapSettings,
    ServiceSpec,
    discover_services,
    ident,
    literal,
    scram_verifier,
)
from colonnade.runtime.settings import SettingsError

SECRET = json.dumps({"username": "master", "password": "m@ster:pa/ss?word"})


def test_aws_shape_host_parts_and_the_master_secret() -> None:
    settings = BootstrapSettings.from_env(
        {
            "DB_HOST": "db.cluster-abc.eu-west-1.rds.amazonaws.com",
            "DB_NAME": "colonnade",
            "DB_SSLMODE": "verify-full",
            "DB_SSLROOTCERT": __file__,  # any readable file stands in for the bundle
            "DB_ADMIN_SECRET": SECRET,
            "DB_IAM_AUTH": "true",
            "DB_SERVICES": "catalog",
        }
    )
    assert settings.dsn == (
        "postgresql://db.cluster-abc.eu-west-1.rds.amazonaws.com:5432/colonnade"
        f"?sslmode=verify-full&sslrootcert={__file__.replace('/', '%2F')}"
    )
    assert (settings.admin_user, settings.admin_password) == ("master", "m@ster:pa/ss?word")
    assert settings.iam_auth and settings.passwords == {}
    assert settings.services == (ServiceSpec("catalog", "colonnade.catalog.migrations"),)
    assert "m@ster" not in repr(settings)  # the password stays out of reprs and logs


def test_local_shape_one_url_and_passwords() -> None:
    settings = BootstrapSettings.from_env(
        {
            "DB_ADMIN_URL": "postgresql://postgres:pw@127.0.0.1:15432/colonnade?sslmode=disable",
            "DB_PASSWORD_CATALOG": "s3cret",
            "DB_WAIT_SECONDS": "30",
        }
    )
    assert settings.dsn == "postgresql://127.0.0.1:15432/colonnade?sslmode=disable"
    assert (settings.admin_user, settings.admin_password) == ("postgres", "pw")
    assert settings.passwords == {"catalog": "s3cret"}
    assert settings.wait_seconds == 30 and not settings.iam_auth
    assert "s3cret" not in repr(settings)


def test_url_without_password_takes_the_secret() -> None:
    settings = BootstrapSettings.from_env(
        {"DB_ADMIN_URL": "postgresql://db.internal/colonnade", "DB_ADMIN_SECRET": SECRET}
    )
    assert settings.admin_user == "master" and settings.database == "colonnade"


def test_default_services_are_the_packages_with_migrations() -> None:
    assert ServiceSpec("catalog", "colonnade.catalog.migrations") in discover_services()
    settings = BootstrapSettings.from_env({"DB_HOST": "h", "DB_NAME": "d"})
    assert settings.services == discover_services()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "DB_HOST"),
        ({"DB_HOST": "h"}, "DB_NAME"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_PORT": "0"}, "DB_PORT"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SSLMODE": "strict"}, "DB_SSLMODE"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SSLROOTCERT": "/no/such.pem"}, "DB_SSLROOTCERT"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_ADMIN_SECRET": "[]"}, "DB_ADMIN_SECRET"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_IAM_AUTH": "perhaps"}, "DB_IAM_AUTH"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_WAIT_SECONDS": "soon"}, "DB_WAIT_SECONDS"),
        ({"DB_HOST": "h", "DB_NAME": "d", "LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"DB_ADMIN_URL": "mysql://h/d"}, "DB_ADMIN_URL"),
        ({"DB_ADMIN_URL": "postgresql://h:5432"}, "DB_ADMIN_URL"),
        ({"DB_ADMIN_URL": "postgresql://h/d?sslmode=always"}, "DB_ADMIN_URL"),
        ({"DB_ADMIN_URL": "postgresql://h/d", "DB_HOST": "other"}, "DB_HOST"),
        ({"DB_ADMIN_URL": "postgresql://u:p@h/d", "DB_ADMIN_SECRET": SECRET}, "DB_ADMIN_SECRET"),
        ({"DB_ADMIN_URL": "postgresql://someone@h/d", "DB_ADMIN_SECRET": SECRET}, "DB_ADMIN_URL"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": "Catalog"}, "DB_SERVICES"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": "pg_catalog"}, "DB_SERVICES"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": "catalog,catalog"}, "DB_SERVICES"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": "nosuch"}, "DB_SERVICES"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": "x=no.such.pkg"}, "DB_SERVICES"),
        ({"DB_HOST": "h", "DB_NAME": "d", "DB_SERVICES": " , "}, "DB_SERVICES"),
        (
            {"DB_HOST": "h", "DB_NAME": "d", "DB_IAM_AUTH": "1", "DB_PASSWORD_CATALOG": "pw"},
            "DB_PASSWORD_CATALOG",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as err:
        BootstrapSettings.from_env(env)
    assert named in str(err.value)


@pytest.mark.parametrize(
    "secret", ["not json m@ster:pa/ss?word", '{"username": "u", "password": 42}', '"just-a-str"']
)
def test_a_malformed_secret_is_never_echoed(secret: str) -> None:
    with pytest.raises(SettingsError) as err:
        BootstrapSettings.from_env({"DB_HOST": "h", "DB_NAME": "d", "DB_ADMIN_SECRET": secret})
    assert "DB_ADMIN_SECRET" in str(err.value)
    assert "m@ster" not in str(err.value) and "42" not in str(err.value)
    assert "just-a-str" not in str(err.value)


def test_quoting() -> None:
    assert ident('we"ird') == '"we""ird"'
    assert literal("it's") == "'it''s'"


def test_scram_verifier_matches_rfc_7677_arithmetic() -> None:
    verifier = scram_verifier("pencil")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    assert method == "SCRAM-SHA-256" and iterations == "4096"
    assert stored_key == hashlib.sha256(client_key).digest()
    assert server_key == hmac.new(salted, b"Server Key", "sha256").digest()
    assert scram_verifier("pencil") != verifier  # a fresh salt every time
