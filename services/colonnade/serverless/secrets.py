"""Secrets read at cold start: the function's configuration names them, Secrets Manager holds them.

ECS injects a task's secrets (`secrets` in the task definition) as environment variables when the
task starts, so their values are in neither the task definition nor Terraform's state. Lambda has
no such injection: a variable in the function's configuration is plain to anyone who may read
the configuration, and in the state of whoever wrote it. So the function is given only where its
secrets are, `COLONNADE_LAMBDA_SECRETS=NAME=<secret ARN>,...`, and reads each one at cold start
(`GetSecretValue`, the whole secret string is the value) into the environment its settings are
read from, as ECS would have set it. A secret that cannot be read stops the cold start with a
SettingsError naming the variable: serving without page-token keys or the issuer's client
secret would fail every call later and less clearly.

boto3 comes from the Lambda runtime (the zip leaves it out), and is imported only when a
secret is named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from colonnade.runtime.settings import SettingsError

SECRETS_VARIABLE = "COLONNADE_LAMBDA_SECRETS"

_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_ARN = re.compile(r"arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:[^,=\s]+")

#: Makes a Secrets Manager client for a Region (boto3's by default).
ClientFactory = Callable[[str], Any]


def secret_refs(env: Mapping[str, str]) -> dict[str, str]:
    """The variables `COLONNADE_LAMBDA_SECRETS` names, each with its secret's ARN."""
    raw = env.get(SECRETS_VARIABLE, "").strip()
    refs: dict[str, str] = {}
    if not raw:
        return refs
    for item in raw.split(","):
        name, sep, arn = item.strip().partition("=")
        if not sep or not _NAME.fullmatch(name) or not _ARN.fullmatch(arn):
            raise SettingsError(
                f"{SECRETS_VARIABLE} must be NAME=<Secrets Manager secret ARN> pairs separated "
                f"by commas, got {item.strip()!r}"
            )
        if name in refs or name in env:
            raise SettingsError(
                f"{SECRETS_VARIABLE} names {name} twice, or a variable that is also set plainly"
            )
        refs[name] = arn
    return refs


def _boto3_client(region: str) -> Any:
    import boto3  # in every Python Lambda runtime; not packaged

    return boto3.client("secretsmanager", region_name=region)


def with_secrets(env: Mapping[str, str], client: ClientFactory = _boto3_client) -> dict[str, str]:
    """`env` plus the value of every secret `COLONNADE_LAMBDA_SECRETS` names (one client per
    Region the ARNs name)."""
    out = dict(env)
    clients: dict[str, Any] = {}
    for name, arn in secret_refs(env).items():
        region = _ARN.fullmatch(arn).group(1)  # type: ignore[union-attr]  # checked above
        if region not in clients:
            clients[region] = client(region)
        try:
            value = clients[region].get_secret_value(SecretId=arn).get("SecretString")
        except Exception as exc:  # botocore's errors name the secret, never its value
            raise SettingsError(f"{name}: cannot read its secret {arn}: {exc}") from None
        if not isinstance(value, str):
            raise SettingsError(f"{name}: secret {arn} holds no SecretString (a binary secret?)")
        out[name] = value
    return out
