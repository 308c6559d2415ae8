"""The live root's serverless variant: dev's data with ``compute = "lambda"``, planned, scanned,
applied against a moto account of its own (its names are dev's, so not in the account the other
environments share) and re-planned empty.

What runs is one function (the gateway, catalog and orders in process) behind API Gateway's
``aws_proxy`` integrations, with RDS Proxy in front of Aurora; moto stores the function's zip
(a stand-in, harness.STAND_IN_HANDLER) and never runs it: tests/serverless runs the real one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from colonnade_tools.deploy.toolchain import Toolchain

from .conftest import planned_resources, resources_of, start_moto
from .harness import RootRun, prepare_root
from .test_live import ENVIRONMENT_INTENDED_FAILURES, _check_applied, checkov_failures

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(1800)]

FUNCTION = "colonnade-dev-api"
ALIAS_INVOKE_ARN = (
    "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:eu-west-1:123456789012:function:{FUNCTION}:live/invocations"
)


@pytest.fixture(scope="module")
def lambda_dev(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RootRun]:
    server = start_moto(tmp_path_factory.mktemp("lambda-moto"))
    try:
        yield prepare_root(
            "dev",
            toolchain,
            server,
            tmp_path_factory.mktemp("env-dev-lambda"),
            phase1=True,
            extra_args=("-var=compute=lambda",),
        )
    finally:
        server.stop()


def _values(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r["values"] for r in resources_of(plan, rtype)]


def test_lambda_variant_plans_the_function_instead_of_services(lambda_dev: RootRun) -> None:
    """No ECS service or EKS cluster; one function from the zip, the authorizer beside it; every
    API operation a Lambda proxy integration of its live alias; checkov passes as for dev."""
    plan = lambda_dev.plan
    assert not resources_of(plan, "aws_ecs_service")
    assert not resources_of(plan, "aws_eks_cluster")
    assert len(resources_of(plan, "aws_ecs_task_definition")) == 1, "only the bootstrap's"
    functions = {f["function_name"]: f for f in _values(plan, "aws_lambda_function")}
    assert set(functions) == {FUNCTION, "colonnade-dev-authorizer"}
    api = functions[FUNCTION]
    assert api["handler"] == "colonnade.serverless.handler"
    assert api["publish"] is True and api["timeout"] <= 29
    assert api["tracing_config"][0]["mode"] == "Active"  # dev traces
    (proxy,) = _values(plan, "aws_db_proxy")
    assert proxy["require_tls"] is True
    assert {a["username"] for a in proxy["auth"]} == {"catalog", "orders"}
    assert all(a["iam_auth"] == "REQUIRED" for a in proxy["auth"])

    (rest_api,) = _values(plan, "aws_api_gateway_rest_api")
    body = json.loads(rest_api["body"])
    integrations = [
        op["x-amazon-apigateway-integration"]
        for ops in body["paths"].values()
        for op in ops.values()
        if "x-amazon-apigateway-integration" in op
    ]
    assert len(integrations) >= 6
    for integration in integrations:
        assert integration["type"] == "aws_proxy"
        assert integration["httpMethod"] == "POST"
        assert integration["uri"] == ALIAS_INVOKE_ARN
        assert "connectionId" not in integration and integration["timeoutInMillis"] <= 29000

    # The proxy's logins: a secret per role, written write-only, never a value in the plan.
    versions = [
        r for r in resources_of(plan, "aws_secretsmanager_secret_version") if r["name"] == "db_user"
    ]
    assert {r["index"] for r in versions} == {"catalog", "orders"}
    assert all(r["values"].get("secret_string_wo") is None for r in versions)

    failed = checkov_failures(lambda_dev, plan, "tfplan-lambda.checkov")
    intended = ENVIRONMENT_INTENDED_FAILURES["dev"]
    assert not sorted(f for f in failed if f[0] not in intended), sorted(failed)


def test_first_apply_phase_writes_the_proxy_logins_before_the_bootstrap_reads_them(
    lambda_dev: RootRun,
) -> None:
    """deploy.py's first phase (-target the bootstrap) creates the role passwords' secret
    versions, which the bootstrap task reads, and no part of the function."""
    plan = json.loads((lambda_dev.workdir.path / "tfplan-phase1.json").read_text())
    created = {
        rc["address"] for rc in plan["resource_changes"] if "create" in rc["change"]["actions"]
    }
    for service in ("catalog", "orders"):
        assert f'module.platform.aws_secretsmanager_secret_version.db_user["{service}"]' in created
    assert "module.platform.module.migrate.aws_ecs_task_definition.this" in created
    assert not [a for a in created if a.startswith("module.platform.module.lambda[")]


@pytest.mark.slow
def test_lambda_variant_applies_against_moto_and_replans_empty(lambda_dev: RootRun) -> None:
    """Applied (but for moto's known gaps) and re-planned empty; the function, its alias, the
    proxy, the schedule and the invoke permission exist; no secret value is in the state."""
    state, _ = _check_applied(lambda_dev)
    created = {r["type"] for r in planned_resources(state)}
    for must in (
        "aws_lambda_function",
        "aws_lambda_alias",
        "aws_lambda_permission",
        "aws_db_proxy",
        "aws_cloudwatch_event_rule",
        "aws_api_gateway_rest_api",
        "aws_secretsmanager_secret_version",
    ):
        assert must in created, f"{must} was not created against moto"

    (fn,) = [f for f in _values(state, "aws_lambda_function") if f["function_name"] == FUNCTION]
    env = fn["environment"][0]["variables"]
    assert env["COLONNADE_SERVICES"] == "catalog,orders"
    assert env["AUTH_MODE"] == "enforce"
    named = dict(item.split("=", 1) for item in env["COLONNADE_LAMBDA_SECRETS"].split(","))
    assert {"CATALOG_PAGE_TOKEN_KEYS", "ORDERS_PAGE_TOKEN_KEYS"} <= set(named)
    assert {"COLONNADE_GATEWAY_API_KEYS", "ORDERS_SERVICE_CLIENT_SECRET"} <= set(named)
    assert not set(named) & set(env), "a secret's value is never a plain variable"
    (alias,) = _values(state, "aws_lambda_alias")
    assert alias["invoke_arn"] == ALIAS_INVOKE_ARN

    (permission,) = [
        p
        for p in _values(state, "aws_lambda_permission")
        if p["statement_id"] == "AllowRestApiInvoke"
    ]
    (rest_api,) = _values(state, "aws_api_gateway_rest_api")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["qualifier"] == "live"
    # Any stage, method and path of this API only (the execution ARN, account included).
    api_arn = f"arn:aws:execute-api:eu-west-1:123456789012:{rest_api['id']}"
    assert permission["source_arn"] == f"{api_arn}/*/*/*"

    # The write-only secrets (page-token keys, the proxy's logins) hold real values that are in
    # neither the state nor a plan. (The issuer's client secrets and the API key store's
    # digests are in the state by their own modules' design, as for the containers.)
    client = boto3.client(
        "secretsmanager",
        endpoint_url=lambda_dev.moto.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    texts = (
        lambda_dev.workdir.run("show", "-json").stdout
        + json.dumps(lambda_dev.plan)
        + json.dumps(lambda_dev.replan())
    )
    for name, arn in named.items():
        if not name.endswith("PAGE_TOKEN_KEYS"):
            continue
        value = client.get_secret_value(SecretId=arn)["SecretString"]
        assert len(value) >= 32, name
        assert value not in texts, f"{name}'s value is in the state or a plan"
    for version in _values(state, "aws_secretsmanager_secret_version"):
        if "/database/" in version["secret_id"]:
            login = json.loads(
                client.get_secret_value(SecretId=version["secret_id"])["SecretString"]
            )
            assert len(login["password"]) >= 32 and login["password"] not in texts
