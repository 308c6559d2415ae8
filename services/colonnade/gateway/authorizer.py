"""The API Gateway Lambda (REQUEST) authorizer: the gateway's verification code in AWS.

REST APIs have no JWT authorizer (`jwtConfiguration` is for HTTP APIs only), so API Gateway
calls this function with the request's `Authorization` header. It verifies the token with
:mod:`colonnade.runtime.auth` — the same JWKS, issuer, audience, leeway and algorithm rules as
the gateway and the services (``AUTH_*`` variables, as for a service) — and answers with an
IAM policy allowing every method of the API whose contract policy the token's scopes
satisfy. Because the policy covers all those methods, API Gateway may cache the answer per
token (`authorizerResultTtlInSeconds`) and reuse it for any method. The verified principal,
scopes and tier go to the backend in the authorizer context; the gateway behind API Gateway
still verifies the token itself (it never trusts the network either).

Handler: ``colonnade.gateway.authorizer.handler``. An invalid token raises
``Exception("Unauthorized")``, which API Gateway answers with 401 (its UNAUTHORIZED gateway
response, a google.rpc.Status body in the imported document).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from colonnade.runtime.auth import AuthError, Principal, TokenVerifier, bearer_token
from colonnade.runtime.settings import Settings

_state: dict[str, Any] = {}


def _routes() -> list[tuple[str, str, tuple[str, ...], bool]]:
    """(HTTP method, resource path with `*` for parameters, scopes, public) of every
    operation of the packaged API Gateway document."""
    from colonnade.descriptors import descriptor_set
    from colonnade.gateway.openapi import generate

    doc = generate([descriptor_set()], "aws")
    out = []
    for path, item in doc["paths"].items():
        pattern = re.sub(r"\{[^}]+\}", "*", path)
        for method, op in item.items():
            policy = op.get("x-colonnade-policy", {})
            out.append(
                (
                    method.upper(),
                    pattern,
                    tuple(policy.get("scopes", [])),
                    bool(policy.get("public", False)),
                )
            )
    return out


def _setup() -> tuple[TokenVerifier, list[tuple[str, str, tuple[str, ...], bool]]]:
    if not _state:
        verifier = TokenVerifier(Settings.from_env(service_name="authorizer").auth_settings())
        verifier.start()
        _state["verifier"] = verifier
        _state["routes"] = _routes()
        _state["loop"] = asyncio.new_event_loop()  # one per execution environment
    return _state["verifier"], _state["routes"]


def allowed_resources(
    method_arn: str, principal: Principal, routes: list[tuple[str, str, tuple[str, ...], bool]]
) -> list[str]:
    """The execute-api ARNs of every method the principal's scopes allow."""
    # arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}
    base = "/".join(method_arn.split("/", 2)[:2])
    return [
        f"{base}/{method}{path}"
        for method, path, scopes, public in routes
        if public or set(scopes) <= principal.scopes
    ]


def authorize(
    event: dict[str, Any], verifier: TokenVerifier, routes: Any, loop: Any
) -> dict[str, Any]:
    """The authorizer's answer for one REQUEST event (raises to refuse)."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    token = bearer_token(headers.get("authorization"))
    if token is None:
        raise Exception("Unauthorized")  # API Gateway's 401 contract
    try:
        principal = verifier.cached(token) or loop.run_until_complete(verifier.verify(token))
    except AuthError:
        raise Exception("Unauthorized") from None
    resources = allowed_resources(event["methodArn"], principal, routes)
    return {
        "principalId": principal.subject,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if resources else "Deny",
                    "Resource": resources or [event["methodArn"]],
                }
            ],
        },
        "context": {
            "principal": principal.subject,
            "scopes": " ".join(sorted(principal.scopes)),
            "tier": principal.tier,
        },
    }


def handler(event: dict[str, Any], _context: Any = None) -> dict[str, Any]:
    """The Lambda entry point."""
    verifier, routes = _setup()
    return authorize(event, verifier, routes, _state["loop"])
