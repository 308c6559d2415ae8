"""The live root with each environment's data, and the account root: shape, plan JSON, policy
scan, apply against one moto account, re-plan, and the database bootstrap task run by deploy's
runner.

The account root and the three environments share one moto server (one account, one Region);
each is planned once per session from its own copy of the tree and reused by every test here.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest

from colonnade.runtime.pagetokens import parse_keys
from colonnade_tools.deploy import layout
from colonnade_tools.deploy.migrate import MigrateTask, run_migration

from .conftest import (
    MOTO_CANNOT_CREATE,
    MOTO_GAP_MARKERS,
    TERRAFORM_ROOT,
    changes,
    format_failures,
    planned_resources,
    resources_of,
    run_checkov,
    unexplained_changes,
)
from .harness import (
    ENVIRONMENTS,
    ENVIRONMENTS_ROOT,
    LIVE_ROOT,
    OPENAPI_DOCUMENT,
    RootRun,
    config_address,
    dependents,
    resolve_unknowns,
)

# The session fixtures plan and apply four roots: their setup counts against the first test's
# timeout, which pytest's default (300 s) does not cover on a loaded machine.
pytestmark = [pytest.mark.terraform, pytest.mark.timeout(3600)]

AZS = {"eu-west-1a", "eu-west-1b", "eu-west-1c"}
SERVICES = {"gateway", "catalog", "orders"}


def _values(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r["values"] for r in resources_of(plan, rtype)]


def _variables(run: RootRun) -> dict[str, Any]:
    return {k: v["value"] for k, v in run.plan["variables"].items()}


################################################################################
# Source shape: one root, environments are data
################################################################################


def test_environments_are_data_only() -> None:
    """No environment carries Terraform code: only its backend config, variables and images."""
    assert set(ENVIRONMENTS) == {"dev", "staging", "prod"}
    for env in ENVIRONMENTS:
        files = {p.name for p in (ENVIRONMENTS_ROOT / env).iterdir()}
        assert files == {"backend.hcl", "terraform.tfvars", layout.IMAGE_FILE, "README.md"}, env


def test_live_backend_is_partial_s3_and_each_environment_has_its_own_state() -> None:
    """One S3 backend declaration; each environment's backend.hcl only changes the key."""
    backend = (LIVE_ROOT / "backend.tf").read_text()
    assert re.search(r'backend\s+"s3"\s*\{\s*\}', backend)
    texts = {env: (ENVIRONMENTS_ROOT / env / "backend.hcl").read_text() for env in ENVIRONMENTS}
    for env, text in texts.items():
        assert f'key          = "environments/{env}/terraform.tfstate"' in text
        assert re.search(r"use_lockfile\s*=\s*true", text)
        assert re.search(r"encrypt\s*=\s*true", text)
        assert not re.search(r"^\s*bucket\s*=", text, re.M), (
            "the bucket is the account's, added by deploy.py"
        )
        assert text.replace(env, "ENV") == texts["dev"].replace("dev", "ENV")


def test_live_root_imports_the_committed_openapi_document() -> None:
    """The API body is read from openapi/colonnade.apigateway.json, not a copy."""
    main = (LIVE_ROOT / "main.tf").read_text()
    assert '"${path.module}/../../openapi/colonnade.apigateway.json"' in main
    assert (LIVE_ROOT / "../../openapi/colonnade.apigateway.json").resolve() == (
        OPENAPI_DOCUMENT.resolve()
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_file(env: str) -> None:
    """Every service and migrate has an image: a digest, or a tag before the first release."""
    digests = layout.read_image_digests(layout.image_file(env, TERRAFORM_ROOT))
    services = set(
        re.findall(r"^  ([a-z]+) = \{", (LIVE_ROOT / "services.auto.tfvars").read_text(), re.M)
    )
    assert set(digests) == services | {"migrate"}
    for value in digests.values():
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", value) or (
            re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", value) and value != "latest"
        ), value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_readme_names_the_supported_commands(env: str) -> None:
    """Each environment's README gives the exact commands, deploy.py first, and says who writes
    the image file."""
    text = (ENVIRONMENTS_ROOT / env / "README.md").read_text()
    assert f"scripts/deploy.py {env} plan" in text and f"scripts/deploy.py {env} apply" in text
    assert "terraform -chdir=terraform/live init" in text
    assert "images.auto.tfvars.json" in text and "write_image_digests" in text


def test_image_file_writer_refuses_anything_but_digests(tmp_path: Any) -> None:
    """What the release calls to write digests keeps the file's format and refuses tags."""
    path = tmp_path / layout.IMAGE_FILE
    layout.write_image_digests(
        path, {"migrate": "sha256:" + "a" * 64, "catalog": "sha256:" + "b" * 64}
    )
    assert json.loads(path.read_text()) == {
        "image_digests": {"catalog": "sha256:" + "b" * 64, "migrate": "sha256:" + "a" * 64}
    }
    with pytest.raises(ValueError, match="not sha256"):
        layout.write_image_digests(path, {"catalog": "0.1.0"})


################################################################################
# Plan JSON
################################################################################


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_three_azs_everywhere(env: str, env_runs: dict[str, RootRun]) -> None:
    """Subnets, load balancers, tasks, Aurora and memcached all span the three AZs."""
    plan = env_runs[env].plan
    tiers: dict[str, set[str]] = {}
    for s in _values(plan, "aws_subnet"):
        tiers.setdefault(s["tags"]["Tier"], set()).add(s["availability_zone"])
    assert tiers == {"public": AZS, "private": AZS, "database": AZS}
    # Load balancer and task subnets are IDs known only after apply: the apply test checks
    # them against the created subnets' AZs.
    services = _values(plan, "aws_ecs_service")
    assert {s["name"] for s in services} == SERVICES
    for svc in services:
        assert svc["network_configuration"][0]["assign_public_ip"] is False
        assert svc["availability_zone_rebalancing"] == "ENABLED"
    cache = _values(plan, "aws_elasticache_cluster")
    assert len(cache) == 1 and cache[0]["az_mode"] == "cross-az"
    assert set(cache[0]["preferred_availability_zones"]) <= AZS
    instance_azs = {i["availability_zone"] for i in _values(plan, "aws_rds_cluster_instance")}
    assert instance_azs == (AZS if env == "prod" else instance_azs) and instance_azs <= AZS
    if env != "dev":
        assert len(instance_azs) >= 2, "staging and prod keep a reader in another AZ"


def _sizing(plan: dict[str, Any]) -> dict[str, Any]:
    """The knobs that are meant to differ between environments, read from a plan."""
    cluster = _values(plan, "aws_rds_cluster")[0]
    targets = {
        t["resource_id"].rsplit("/", 1)[-1]: t for t in _values(plan, "aws_appautoscaling_target")
    }
    lbs = {lb["load_balancer_type"]: lb for lb in _values(plan, "aws_lb")}
    stage = _values(plan, "aws_api_gateway_stage")[0]
    service_logs = [
        g
        for g in _values(plan, "aws_cloudwatch_log_group")
        if re.match(r"^/colonnade-[a-z]+/(gateway|catalog|orders|migrate)$", g["name"])
    ]
    return {
        "nat_gateways": len(resources_of(plan, "aws_nat_gateway")),
        "aurora_min_acu": cluster["serverlessv2_scaling_configuration"][0]["min_capacity"],
        "aurora_deletion_protection": cluster["deletion_protection"],
        "aurora_instances": len(resources_of(plan, "aws_rds_cluster_instance")),
        "aurora_backup_days": cluster["backup_retention_period"],
        "min_tasks": {k: t["min_capacity"] for k, t in targets.items()},
        "alb_deletion_protection": lbs["application"]["enable_deletion_protection"],
        "nlb_deletion_protection": lbs["network"]["enable_deletion_protection"],
        "service_log_retention": {g["retention_in_days"] for g in service_logs},
        "api_cache": stage["cache_cluster_enabled"],
        "backup_copies": sum(
            len(rule.get("copy_action") or [])
            for p in _values(plan, "aws_backup_plan")
            for rule in p["rule"]
        ),
        "fargate_spot": any(
            s["capacity_provider"] == "FARGATE_SPOT"
            for c in _values(plan, "aws_ecs_cluster_capacity_providers")
            for s in c["default_capacity_provider_strategy"]
        ),
    }


def test_dev_and_prod_differ_where_intended(env_runs: dict[str, RootRun]) -> None:
    """Single NAT + scale-to-zero in dev; NAT per AZ, 2+ tasks, protection, retention and a DR
    copy in prod."""
    dev, prod = _sizing(env_runs["dev"].plan), _sizing(env_runs["prod"].plan)
    assert dev["nat_gateways"] == 1 and prod["nat_gateways"] == 3
    assert dev["aurora_min_acu"] == 0 and prod["aurora_min_acu"] >= 0.5
    assert dev["aurora_deletion_protection"] is False and prod["aurora_deletion_protection"] is True
    assert dev["aurora_instances"] == 1 and prod["aurora_instances"] == 3
    assert prod["aurora_backup_days"] > dev["aurora_backup_days"]
    assert all(n >= 2 for n in prod["min_tasks"].values()), prod["min_tasks"]
    assert set(prod["min_tasks"]) == SERVICES
    assert dev["alb_deletion_protection"] is False and prod["alb_deletion_protection"] is True
    assert dev["nlb_deletion_protection"] is False and prod["nlb_deletion_protection"] is True
    assert min(prod["service_log_retention"]) > max(dev["service_log_retention"])
    assert min(prod["service_log_retention"]) >= 365
    assert dev["api_cache"] is False and prod["api_cache"] is True
    assert dev["backup_copies"] == 0 and prod["backup_copies"] == 2, "prod copies daily and monthly"
    assert dev["fargate_spot"] is True and prod["fargate_spot"] is False
    staging = _sizing(env_runs["staging"].plan)
    assert staging["nat_gateways"] == 3 and staging["aurora_deletion_protection"] is True


def test_prod_copies_its_backups_to_the_account_dr_vault(
    env_runs: dict[str, RootRun], account_run: RootRun
) -> None:
    """Finding 17: prod's copy target is the vault the account root made in the DR Region."""
    dr_vault = account_run.outputs()["dr_backup_vault_arn"]
    assert ":eu-central-1:" in dr_vault
    (backup_plan,) = _values(env_runs["prod"].plan, "aws_backup_plan")
    targets = {c["destination_vault_arn"] for r in backup_plan["rule"] for c in r["copy_action"]}
    assert targets == {dr_vault}


def _resource_keys(plan: dict[str, Any]) -> set[str]:
    return {r["address"] for r in planned_resources(plan) if r["mode"] == "managed"}


def test_prod_has_no_unintended_extra_resources(env_runs: dict[str, RootRun]) -> None:
    """The resource inventories of dev and prod differ only by the intended additions."""

    # Instance keys are wildcarded: usage plan and key names are data, not shape.
    def shape(plan: dict[str, Any]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in _resource_keys(plan):
            key = re.sub(r"\[[^\]]*\]", "[*]", a)
            counts[key] = counts.get(key, 0) + 1
        return counts

    dev, prod = shape(env_runs["dev"].plan), shape(env_runs["prod"].plan)
    only_dev = {a for a in dev if dev[a] > prod.get(a, 0)}
    only_prod = {a for a in prod if prod[a] > dev.get(a, 0)}
    assert not only_dev, f"dev has resources prod lacks: {sorted(only_dev)}"
    expected = {
        "module.platform.module.network.aws_eip.nat[*]",
        "module.platform.module.network.aws_nat_gateway.this[*]",
        "module.platform.module.aurora.aws_rds_cluster_instance.this[*]",
        # prod's stage cache: one method setting per cached GET.
        "module.platform.module.api_gateway.aws_api_gateway_method_settings.cached[*]",
        # prod keeps monthly snapshots for a year and copies them (rules, attributes) and runs a
        # third memcached node (an attribute), so none of these add addresses.
    }
    assert only_prod == expected, sorted(only_prod ^ expected)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_stores_are_private_and_encrypted(env: str, env_runs: dict[str, RootRun]) -> None:
    """Aurora, memcached, every bucket, log group and topic: no public access, encrypted."""
    plan = env_runs[env].plan
    for c in _values(plan, "aws_rds_cluster"):
        assert c["storage_encrypted"] is True and c["iam_database_authentication_enabled"] is True
        assert c.get("master_password") is None
    for i in _values(plan, "aws_rds_cluster_instance"):
        assert i["publicly_accessible"] is False
    for c in _values(plan, "aws_elasticache_cluster"):
        assert c["transit_encryption_enabled"] is True
    buckets = {r["address"] for r in resources_of(plan, "aws_s3_bucket")}
    assert len(buckets) == 2, buckets  # SPA and access logs
    for rtype in (
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
    ):
        assert len(resources_of(plan, rtype)) == len(buckets), rtype
    for pab in _values(plan, "aws_s3_bucket_public_access_block"):
        assert all(
            pab[k]
            for k in (
                "block_public_acls",
                "block_public_policy",
                "ignore_public_acls",
                "restrict_public_buckets",
            )
        )
    unknown = {
        rc["address"]: rc["change"].get("after_unknown") or {} for rc in plan["resource_changes"]
    }
    for g in resources_of(plan, "aws_cloudwatch_log_group"):
        # Either a key ARN known at plan time or one computed from a key created here.
        assert g["values"].get("kms_key_id") or unknown[g["address"]].get("kms_key_id"), g[
            "address"
        ]
    for t in resources_of(plan, "aws_sns_topic"):
        assert t["values"].get("kms_master_key_id") or unknown[t["address"]].get(
            "kms_master_key_id"
        )
    for k in _values(plan, "aws_kms_key"):
        assert k["enable_key_rotation"] is True
    for rule in _values(plan, "aws_vpc_security_group_ingress_rule"):
        assert rule.get("cidr_ipv4") != "0.0.0.0/0"
    for lb in _values(plan, "aws_lb"):
        assert lb["internal"] is True


def _without_cache_keys(document: dict[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(document))
    for ops in doc["paths"].values():
        for op in ops.values():
            if isinstance(op, dict):
                op.get("x-amazon-apigateway-integration", {}).pop("cacheKeyParameters", None)
    return doc


AUTHORIZER_SCHEME = "colonnade_jwt"


def _schemes(document: dict[str, Any]) -> dict[str, Any]:
    schemes: dict[str, Any] = document.get("components", {}).get("securitySchemes", {})
    return schemes


def _as_imported(document: dict[str, Any], *, authorizer_uri: str) -> dict[str, Any]:
    """The committed document as the module imports it: the contract policies
    (``x-colonnade-policy``, ``x-colonnade-scopes``) are the modules' input, not API
    Gateway's, and the authorizer invokes the environment's function. (Without a function
    the module drops the scheme: the api-gateway module's native tests.)"""
    doc: dict[str, Any] = json.loads(json.dumps(document))
    doc.pop("x-colonnade-scopes", None)  # the identity module's input
    _schemes(doc)[AUTHORIZER_SCHEME]["x-amazon-apigateway-authorizer"]["authorizerUri"] = (
        authorizer_uri
    )
    for ops in doc["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "x-amazon-apigateway-integration" in op:
                op.pop("x-colonnade-policy", None)
    return doc


def _authorizer_output(plan: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = plan["planned_values"]["outputs"]["authorizer"]["value"]
    return value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_gateway_body_is_the_committed_document(env: str, env_runs: dict[str, RootRun]) -> None:
    """The REST API imports the committed document (as the module rewrites it: see
    `_as_imported`, plus cache keys where the stage caches), its authorizer invoking the
    environment's function; the stage wires its variables."""
    plan = env_runs[env].plan
    (api,) = _values(plan, "aws_api_gateway_rest_api")
    committed = OPENAPI_DOCUMENT.read_text()
    (stage,) = _values(plan, "aws_api_gateway_stage")
    body = json.loads(api["body"])
    # deploy.py passes the built zip (the harness a stand-in): the authorizer is wired.
    invoke_arn = _authorizer_output(plan)["invoke_arn"]
    assert re.fullmatch(
        r"arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/"
        rf"arn:aws:lambda:eu-west-1:\d{{12}}:function:colonnade-{env}-authorizer/invocations",
        invoke_arn,
    ), invoke_arn
    expected = _as_imported(json.loads(committed), authorizer_uri=invoke_arn)
    if stage["cache_cluster_enabled"]:
        assert _without_cache_keys(body) == _without_cache_keys(expected)
    else:
        assert body == expected
    deployment = _values(plan, "aws_api_gateway_deployment")[0]
    assert deployment["triggers"]["redeployment"] == hashlib.sha1(api["body"].encode()).hexdigest()
    assert stage["stage_name"] == env
    assert stage["xray_tracing_enabled"] is True
    # The stage sets vpcLinkId and backendHost; the document may use no other stage variable.
    used = set(re.findall(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}", committed))
    assert used <= {"vpcLinkId", "backendHost"}, (
        f"the document uses stage variables no stage sets: {used}"
    )
    (wired,) = [
        c for c in plan["checks"] if c["address"]["to_display"].endswith("authorizer_wired")
    ]
    assert wired["status"] == "pass", wired


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_authorizer_runs_the_built_zip_outside_the_vpc(
    env: str, applied_envs: dict[str, RootRun]
) -> None:
    """After the apply (moto stores the zip; running it would need Docker): the package
    deploy.py passes, the gateway's handler with the gateway's own verifier settings, no VPC,
    a timeout under API Gateway's 10 s, reserved concurrency, a role that may only write its
    own log group (encrypted, retained), API Gateway allowed to invoke it for this API's
    authorizers only, and its alarms to the environment's topic."""
    state = applied_envs[env].state()
    resources = planned_resources(state)

    def values(rtype: str) -> list[dict[str, Any]]:
        return [r["values"] for r in resources if r["type"] == rtype]

    name = f"colonnade-{env}-authorizer"
    (fn,) = values("aws_lambda_function")
    assert fn["function_name"] == name
    assert fn["filename"] == "../../build/lambda/colonnade-lambda-py3.11-x86_64.zip"
    assert fn["handler"] == "colonnade.gateway.authorizer.handler"
    assert fn["runtime"] == "python3.11" and fn["architectures"] == ["x86_64"]
    assert not fn.get("vpc_config")
    assert 1 <= fn["timeout"] <= 10 and fn["reserved_concurrent_executions"] >= 1
    assert fn["invoke_arn"] == applied_envs[env].outputs()["authorizer"]["invoke_arn"]

    (gateway,) = [
        json.loads(r["container_definitions"])[0]
        for r in values("aws_ecs_task_definition")
        if r["family"] == f"colonnade-{env}-gateway"
    ]
    verifier = {
        e["name"].removeprefix("COLONNADE_GATEWAY_"): e["value"]
        for e in gateway["environment"]
        if e["name"].startswith("COLONNADE_GATEWAY_AUTH_")
    }
    assert set(verifier) >= {"AUTH_JWKS", "AUTH_ISSUER", "AUTH_CLIENT_IDS"}
    assert fn["environment"][0]["variables"] == verifier

    (group,) = [g for g in values("aws_cloudwatch_log_group") if g["name"] == f"/aws/lambda/{name}"]
    assert group["retention_in_days"] == _variables(applied_envs[env])["log_retention_days"]
    assert group["kms_key_id"]
    (policy,) = [
        json.loads(p["policy"])
        for p in values("aws_iam_role_policy")
        if p["name"] == "write-own-logs"
    ]
    (statement,) = policy["Statement"]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statement["Resource"] == f"{group['arn']}:*"

    (api,) = values("aws_api_gateway_rest_api")
    (permission,) = values("aws_lambda_permission")
    assert permission["function_name"] == name
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["source_arn"] == f"{api['execution_arn']}/authorizers/*"

    topic = applied_envs[env].outputs()["alarm_topic_arn"]
    alarms = [a for a in values("aws_cloudwatch_metric_alarm") if a["alarm_name"].startswith(name)]
    assert sorted(a["metric_name"] for a in alarms) == ["Duration", "Errors", "Throttles"]
    assert all(a["alarm_actions"] == [topic] for a in alarms)


def test_integrations_call_the_backend_over_https() -> None:
    """Every integration reaches the internal ALB over TLS through the VPC link."""
    doc = json.loads(OPENAPI_DOCUMENT.read_text())
    uris = [
        op["x-amazon-apigateway-integration"]["uri"]
        for ops in doc["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "x-amazon-apigateway-integration" in op
    ]
    assert uris and all(u.startswith("https://${stageVariables.backendHost}/") for u in uris)


def test_grpc_target_groups_and_listener(env_runs: dict[str, RootRun]) -> None:
    """A gRPC target group per gRPC service with grpc.health.v1 checks behind the HTTPS
    listener, routed by package; HTTP redirects."""
    plan = env_runs["prod"].plan
    groups = {g["name"]: g for g in _values(plan, "aws_lb_target_group")}
    grpc = [g for g in groups.values() if g.get("protocol_version") == "GRPC"]
    assert len(grpc) == len(SERVICES) - 1
    for g in grpc:
        assert g["health_check"][0]["matcher"] == "0"
        assert g["health_check"][0]["path"] == "/grpc.health.v1.Health/Check"
    patterns = sorted(
        v
        for rule in _values(plan, "aws_lb_listener_rule")
        for c in rule["condition"]
        for p in c["path_pattern"]
        for v in p["values"]
    )
    assert patterns == [
        "/colonnade.catalog.v1.*",
        "/colonnade.catalog.v2.*",
        "/colonnade.orders.v1.*",
    ]
    listeners = {
        lst["port"]: lst
        for lst in _values(plan, "aws_lb_listener")
        if lst["protocol"] in ("HTTP", "HTTPS")
    }
    assert listeners[80]["default_action"][0]["type"] == "redirect"
    assert listeners[443]["protocol"] == "HTTPS"
    assert all(
        lb["drop_invalid_header_fields"]
        for lb in _values(plan, "aws_lb")
        if lb["load_balancer_type"] == "application"
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_tag_instead_of_a_digest_is_flagged_on_every_plan(
    env: str, env_runs: dict[str, RootRun]
) -> None:
    """Until the first release writes digests, the committed tags run, and the plan says so."""
    plan = env_runs[env].plan
    (check,) = [
        c
        for c in plan["checks"]
        if c["address"]["to_display"] == "check.images_are_pinned_by_digest"
    ]
    tags = [
        d
        for d in plan["variables"]["image_digests"]["value"].values()
        if not d.startswith("sha256:")
    ]
    assert check["status"] == ("fail" if tags else "pass"), check


def test_edge_web_acl_sees_clients_and_the_stage_admits_only_cloudfront(
    env_runs: dict[str, RootRun],
) -> None:
    """Finding 14: the per-client rate limit is in the CLOUDFRONT-scope ACL; the stage's ACL
    blocks what does not carry CloudFront's origin header, which CloudFront sends."""
    plan = env_runs["prod"].plan
    acls = {a["scope"]: a for a in _values(plan, "aws_wafv2_web_acl")}
    assert set(acls) == {"CLOUDFRONT", "REGIONAL"}
    rate = [r for r in acls["CLOUDFRONT"]["rule"] if r["statement"][0]["rate_based_statement"]]
    assert rate and rate[0]["statement"][0]["rate_based_statement"][0]["aggregate_key_type"] == "IP"
    assert not [r for r in acls["REGIONAL"]["rule"] if r["statement"][0]["rate_based_statement"]]
    assert [r["name"] for r in acls["REGIONAL"]["rule"] if r["priority"] == 0] == [
        "only-through-cloudfront"
    ]
    (distribution,) = resources_of(plan, "aws_cloudfront_distribution")
    api_origin = next(o for o in distribution["values"]["origin"] if o["origin_id"] == "api")
    assert [h["name"] for h in api_origin["custom_header"]] == ["x-origin-verify"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_spa_is_published_with_its_api_base(env: str, env_runs: dict[str, RootRun]) -> None:
    """Finding 13: the cdn module uploads the web UI; its index.html points at api/."""
    objects = {
        r["values"]["key"]: r["values"] for r in resources_of(env_runs[env].plan, "aws_s3_object")
    }
    web = layout.REPO_ROOT / "services" / "colonnade" / "web"
    assert set(objects) == {p.name for p in web.iterdir() if p.is_file() and p.suffix != ".py"}
    assert '<meta name="api-base" content="api/">' in objects["index.html"]["content"]


#: Checks that fail *by design* in an environment, with the reason. They are the environment
#: differences `test_dev_and_prod_differ_where_intended` asserts; prod must pass every check, and
#: each entry here must really fail (so the list cannot outlive the reason). An inline
#: `#checkov:skip` would be wrong for these: it would also silence the check in prod.
ENVIRONMENT_INTENDED_FAILURES: dict[str, dict[str, str]] = {
    "dev": {
        "CKV_AWS_139": "dev's Aurora has no deletion protection (throw-away data, fast teardown)",
        "CKV_AWS_150": "dev's load balancers have no deletion protection",
        "CKV_AWS_338": "dev keeps service logs 30 days, not a year",
        "CKV_AWS_120": "the API Gateway cache cluster is a prod-only cost",
    },
    "staging": {
        "CKV_AWS_338": "staging keeps service logs 90 days, not a year",
        "CKV_AWS_120": "the API Gateway cache cluster is a prod-only cost",
    },
    "prod": {},
}


def _failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}


def checkov_failures(
    run: RootRun, plan: dict[str, Any], name: str, min_passed: int = 300
) -> set[tuple[str, str]]:
    """Checks that fail on ``plan`` both as planned and with apply-time values filled in.

    Plan JSON leaves values known only at apply time (ARNs of keys created in the same plan)
    out, which checkov reads as "not set"; filling them with placeholders
    (``resolve_unknowns``) fixes that but hides graph references. So the plan is scanned both
    ways and a check counts as failed when it fails in both scans: each scan's artefact goes
    one way only, and a value that is really wrong fails in both. Skips are inline in source.
    """
    raw = run.workdir.path / f"{name}.json"
    raw.write_text(json.dumps(plan))
    resolved = run.workdir.path / f"{name}.resolved.json"
    resolved.write_text(json.dumps(resolve_unknowns(plan)))
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(
            pool.map(
                lambda path: run_checkov(
                    [
                        "-f",
                        str(path),
                        "--framework",
                        "terraform_plan",
                        "--repo-root-for-plan-enrichment",
                        str(run.tree_root / "terraform"),
                    ],
                    cwd=run.workdir.path,
                ),
                (raw, resolved),
            )
        )
    for report in reports:
        assert report["summary"]["passed"] > min_passed, report["summary"]
        for skipped in report["results"].get("skipped_checks", []):
            comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(comment) > 20, f"skip without a reason: {skipped['check_id']}"
    failed = _failed(reports[0]) & _failed(reports[1])
    if failed:
        print(format_failures(reports[1]))
    return failed


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_checkov_plan(env: str, env_runs: dict[str, RootRun]) -> None:
    """checkov over the environment's plan JSON: nothing fails but the intended differences."""
    run = env_runs[env]
    failed = checkov_failures(run, run.plan, "tfplan.checkov")
    intended = ENVIRONMENT_INTENDED_FAILURES[env]
    unexpected = sorted(f for f in failed if f[0] not in intended)
    assert not unexpected, "\n".join(f"{c} on {r}" for c, r in unexpected)
    still_failing = {c for c, _ in failed}
    assert still_failing == set(intended), (
        f"intended failures that no longer fail: {set(intended) - still_failing}"
    )


def test_checkov_account_plan(account_run: RootRun) -> None:
    """checkov over the account root's plan: nothing fails."""
    failed = checkov_failures(account_run, account_run.plan, "tfplan.checkov", min_passed=40)
    assert not failed, sorted(failed)


def test_eks_variant_plans_and_passes_checkov(env_runs: dict[str, RootRun]) -> None:
    """prod with ``compute = "eks"``: planned and scanned, never applied here.

    Plan only, because moto 5.2.5's EKS backend has clusters, node groups and Fargate profiles
    but no Auto Mode, add-ons (CreateAddon), access entries or pod identity associations. The
    ECS variant is the one applied against moto.
    """
    run = env_runs["prod"]
    eks = json.dumps(
        {
            "admin_role_names": ["colonnade-platform-admin"],
            "api_access_cidrs": {"vpn": "172.16.0.0/16"},
        }
    )
    plan = run.workdir.plan_json(
        *run.plan_args, "-var=compute=eks", f"-var=eks={eks}", "-parallelism=20", out="tfplan-eks"
    )
    assert not resources_of(plan, "aws_ecs_service"), "no ECS service with EKS"
    assert len(resources_of(plan, "aws_ecs_cluster")) == 1, "the bootstrap task still runs on ECS"
    (cluster,) = _values(plan, "aws_eks_cluster")
    assert cluster["vpc_config"][0]["endpoint_public_access"] is False
    assert len(cluster["enabled_cluster_log_types"]) == 5
    assert cluster["compute_config"][0]["enabled"] is True
    assert cluster["kubernetes_network_config"][0]["elastic_load_balancing"][0]["enabled"] is True
    assert {a["addon_name"] for a in _values(plan, "aws_eks_addon")} == {"metrics-server"}
    identities = _values(plan, "aws_eks_pod_identity_association")
    assert {(i["namespace"], i["service_account"]) for i in identities} == {
        ("colonnade", s) for s in SERVICES
    }
    assert len(resources_of(plan, "aws_eks_access_entry")) == 1
    # Aurora admits the cluster's security group (and, by a rule of its own, the bootstrap's).
    db_rules = [
        r
        for r in resources_of(plan, "aws_vpc_security_group_ingress_rule")
        if "module.aurora" in r["address"]
    ]
    assert {r["index"] for r in db_rules} == {"eks"}
    assert [
        r["address"]
        for r in resources_of(plan, "aws_vpc_security_group_ingress_rule")
        if r["name"] == "migrate_to_database"
    ] == ["module.platform.aws_vpc_security_group_ingress_rule.migrate_to_database"]
    # The ALB reaches every service's pods.
    lb_rules = [
        r
        for r in resources_of(plan, "aws_vpc_security_group_ingress_rule")
        if r["name"] == "load_balancer"
    ]
    assert {r["index"] for r in lb_rules} == SERVICES
    assert not checkov_failures(run, plan, "tfplan-eks.checkov")
    # prod traces through an ECS sidecar: on EKS the plan warns that no spans are exported.
    tracing = [
        c["status"]
        for c in plan.get("checks", [])
        if c["address"]["to_display"].endswith("check.tracing_needs_ecs")
    ]
    assert tracing == ["fail"], tracing


def test_first_apply_phase_registers_the_bootstrap_and_no_service(
    env_runs: dict[str, RootRun],
) -> None:
    """deploy.py's first phase (-target layout.MIGRATION_TARGETS, planned before anything
    exists) creates the migrate task definition, Aurora and the task's way in, and the ECS
    cluster, and never a service, a load balancer, the cache or the CDN."""
    plan = json.loads((env_runs["dev"].workdir.path / "tfplan-phase1.json").read_text())
    created = {rc["address"] for rc in changes(plan)}
    assert "module.platform.module.migrate.aws_ecs_task_definition.this" in created
    assert "module.platform.module.aurora.aws_rds_cluster.this" in created
    assert "module.platform.aws_vpc_security_group_ingress_rule.migrate_to_database" in created
    assert "module.platform.module.ecs_cluster.aws_ecs_cluster.this" in created
    types = {rc["type"] for rc in changes(plan)}
    forbidden = {
        "aws_ecs_service",
        "aws_lb",
        "aws_lb_listener",
        "aws_elasticache_cluster",
        "aws_cloudfront_distribution",
    }
    assert not types & forbidden, types & forbidden
    assert not [a for a in created if ".module.ecs_service[" in a], "no part of any service"
    outputs = plan["planned_values"]["outputs"]
    assert "migrate_task" in outputs or "migrate_task" in plan.get("output_changes", {})


################################################################################
# Apply against moto (one account), then a second plan that must be empty
################################################################################


def _check_applied(run: RootRun) -> tuple[dict[str, Any], set[str]]:
    """Apply errors are known gaps and the second plan is empty but for them; the state."""
    output = run.apply()
    errors = [b for b in output.split("Error: ")[1:] if b.strip()]
    for error in errors:
        assert any(m in error for m in MOTO_GAP_MARKERS), (
            f"apply failed for a reason that is not a known moto gap:\n{error[:3000]}"
        )
    gap_roots = {
        config_address(rc)
        for rc in run.plan["resource_changes"]
        if rc["type"] in MOTO_CANNOT_CREATE
    }
    planned_only = gap_roots | dependents(run.workdir, gap_roots)
    unexplained = unexplained_changes(run.replan(), lambda rc: config_address(rc) in planned_only)
    assert not unexplained, "second plan is not empty:\n" + "\n".join(unexplained)
    return run.state(), planned_only


@pytest.mark.slow
def test_account_apply_then_plan_is_empty(account_run: RootRun) -> None:
    """The account root applies (but for moto's gaps) and re-plans empty."""
    state, _ = _check_applied(account_run)
    created = {r["type"] for r in planned_resources(state)}
    for must in (
        "aws_s3_bucket",
        "aws_ecr_repository",
        "aws_api_gateway_account",
        "aws_backup_vault",
    ):
        assert must in created, f"{must} was not created against moto"
    outputs = account_run.outputs()
    assert outputs["state_bucket"] == layout.state_bucket_name("123456789012", "eu-west-1")


@pytest.mark.slow
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply_then_plan_is_empty(env: str, applied_envs: dict[str, RootRun]) -> None:
    """Apply succeeds but for moto's documented gaps, and the next plan changes nothing else.

    What moto cannot create (``MOTO_CANNOT_CREATE``, with reasons) and everything that depends
    on it stays planned-only: those resources are covered by the plan JSON tests and checkov.
    Every other resource must be created and must not show up in the second plan.
    """
    run = applied_envs[env]
    state, _ = _check_applied(run)
    second = run.replan()

    # Now that the subnets exist, every load balancer and every service (created, or still
    # planned behind a gap) must use subnets in all three AZs.
    subnet_az = {
        r["values"]["id"]: r["values"]["availability_zone"]
        for r in planned_resources(state)
        if r["type"] == "aws_subnet"
    }
    spread = [
        (r["address"], r["values"]["subnets"])
        for r in resources_of(second, "aws_lb") + resources_of(state, "aws_lb")
    ] + [
        (r["address"], r["values"]["network_configuration"][0]["subnets"])
        for r in resources_of(second, "aws_ecs_service") + resources_of(state, "aws_ecs_service")
    ]
    assert {a for a, _ in spread} >= {"module.platform.module.alb.aws_lb.this"}
    assert len({a for a, _ in spread if "aws_ecs_service" in a}) == len(SERVICES)
    for address, subnets in spread:
        assert {subnet_az[s] for s in subnets} == AZS, address

    # The backend host API Gateway calls is the one the certificate covers (test_classes.py).
    (stage,) = resources_of(state, "aws_api_gateway_stage")
    assert (
        stage["values"]["variables"]["backendHost"]
        == run.plan["variables"]["backend_host"]["value"]
    )

    # The gaps must not swallow the platform: the core of it was really created.
    created = {r["type"] for r in planned_resources(state)}
    for must in (
        "aws_vpc",
        "aws_nat_gateway",
        "aws_rds_cluster",
        "aws_elasticache_cluster",
        "aws_lb",
        "aws_lb_listener",
        "aws_lb_target_group",
        "aws_api_gateway_rest_api",
        "aws_api_gateway_stage",
        "aws_api_gateway_vpc_link",
        "aws_lambda_function",
        "aws_lambda_permission",
        "aws_ecs_cluster",
        "aws_ecs_service",
        "aws_ecs_task_definition",
        "aws_sns_topic",
        "aws_cloudwatch_metric_alarm",
        "aws_wafv2_web_acl",
        "aws_s3_bucket",
    ):
        assert must in created, f"{must} was not created against moto"
    # The SPA's objects are not in that list: they are encrypted with the bucket's key, whose
    # policy names the CloudFront distribution, which needs a CloudFront Function (a moto gap).
    # They stay planned-only here; their content is checked by plan
    # (test_the_spa_is_published_with_its_api_base) and served by the rehearsal.
    assert "aws_s3_object" not in created or "aws_cloudfront_distribution" in created


@pytest.mark.slow
def test_outputs_are_the_task_definitions(applied_envs: dict[str, RootRun]) -> None:
    """The container_definitions output is exactly what every applied task definition holds:
    one source for ECS, the EKS manifests and the rehearsal."""
    run = applied_envs["prod"]
    outputs = run.outputs()
    task_defs = {
        r["values"]["family"]: json.loads(r["values"]["container_definitions"])
        for r in planned_resources(run.state())
        if r["type"] == "aws_ecs_task_definition"
    }
    assert set(task_defs) == {f"colonnade-prod-{n}" for n in (*SERVICES, "migrate")}
    for name, definition in outputs["container_definitions"].items():
        applied, *sidecars = task_defs[f"colonnade-prod-{name}"]
        # prod traces: every service's task has the ADOT collector beside it, migrate has not.
        expected = [] if name == "migrate" else ["otel-collector"]
        assert [s["name"] for s in sidecars] == expected, name
        assert all(s["essential"] is False for s in sidecars), "a collector outage stops no task"
        for key in (
            "image",
            "command",
            "environment",
            "secrets",
            "healthCheck",
            "user",
            "readonlyRootFilesystem",
            "mountPoints",
        ):
            assert applied.get(key) == definition.get(key), f"{name}.{key}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_task_reads_only_its_own_secrets(env: str, applied_envs: dict[str, RootRun]) -> None:
    """After the apply: the gateway's task reads its client secret and the API key store,
    orders' its client secret, each gRPC service its own page-token keys; each execution role
    may read exactly those."""
    state = applied_envs[env].state()
    resources = planned_resources(state)
    names = {
        r["values"]["arn"]: r["values"]["name"]
        for r in resources
        if r["type"] == "aws_secretsmanager_secret"
    }
    prefix = f"colonnade-{env}/identity/"
    wanted = {
        "gateway": {
            "COLONNADE_GATEWAY_SERVICE_CLIENT_SECRET": prefix + "gateway-client-secret",
            "COLONNADE_GATEWAY_API_KEYS": prefix + "gateway-api-keys",
        },
        "orders": {
            "SERVICE_CLIENT_SECRET": prefix + "orders-client-secret",
            "PAGE_TOKEN_KEYS": f"colonnade-{env}/page-tokens/orders",
        },
        "catalog": {"PAGE_TOKEN_KEYS": f"colonnade-{env}/page-tokens/catalog"},
    }
    for service, secrets in wanted.items():
        (task,) = [
            json.loads(r["values"]["container_definitions"])[0]
            for r in resources
            if r["type"] == "aws_ecs_task_definition"
            and r["values"]["family"] == f"colonnade-{env}-{service}"
        ]
        read = {
            s["name"]: names.get(s["valueFrom"], s["valueFrom"]) for s in task.get("secrets", [])
        }
        assert read == secrets, service
        (policy,) = [
            json.loads(r["values"]["policy"])
            for r in resources
            if r["address"]
            == f'module.platform.module.ecs_service["{service}"].aws_iam_role_policy.execution'
        ]
        readable = {
            names.get(arn, arn)
            for st in policy["Statement"]
            if "secretsmanager:GetSecretValue" in st["Action"]
            for arn in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
        }
        assert readable == set(secrets.values()), service


def test_page_token_keys_are_random_per_service_and_in_no_plan_or_state(
    applied_envs: dict[str, RootRun],
) -> None:
    """Secrets Manager made each gRPC service's page-token key (GetRandomPassword through an
    ephemeral resource) and Terraform wrote it write-only: the secret holds one key the runtime
    accepts, another per service and per environment, and neither the plan nor the state
    contains it (only the write-only version)."""
    seen: dict[str, str] = {}
    for env in ENVIRONMENTS:
        run = applied_envs[env]
        state = run.state()
        versions = {
            r["index"]: r["values"]
            for r in planned_resources(state)
            if r["address"].startswith(
                "module.platform.aws_secretsmanager_secret_version.page_token_keys["
            )
        }
        assert set(versions) == {"catalog", "orders"}, env
        client = boto3.client(
            "secretsmanager",
            region_name=_variables(run)["region"],
            endpoint_url=run.moto.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        # The raw state (not only `show`), the saved plan, and the plan after the apply.
        stored = run.workdir.run("state", "pull").stdout + json.dumps(run.plan)
        stored += json.dumps(run.replan())
        for service, values in versions.items():
            assert not values.get("secret_string"), (env, service)
            assert values["has_secret_string_wo"] is True, (env, service)
            assert values["secret_string_wo_version"] == 1, (env, service)
            key = client.get_secret_value(SecretId=values["secret_id"])["SecretString"]
            assert parse_keys(key) == (key,) and re.fullmatch(r"[A-Za-z0-9]{64}", key), (
                env,
                service,
            )
            assert key not in stored, f"{env}/{service}: the page-token key is in plan or state"
            seen[f"{env}/{service}"] = key
    assert len(set(seen.values())) == len(seen), "each service of each environment has its own key"


@pytest.mark.slow
def test_bootstrap_task_runs_to_completion_against_moto(applied_envs: dict[str, RootRun]) -> None:
    """deploy.py's runner starts the applied migrate task definition with the migrate_task
    output (RunTask) and polls DescribeTasks until it stops with exit code 0.

    moto moves a task RUNNING → DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED, one step per
    DescribeTasks, and always reports exit code 0: the failure paths of the loop are tested with
    a fake client in test_deploy.py.
    """
    run = applied_envs["dev"]
    task = MigrateTask.from_output(run.outputs()["migrate_task"])
    ecs = boto3.client(
        "ecs",
        region_name=task.region,
        endpoint_url=run.moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    lines: list[str] = []
    outcome = run_migration(ecs, task, poll=0.01, timeout=60, log=lines.append)
    assert outcome.exit_code == 0
    assert lines[0].startswith(f"migrate: task {outcome.task_arn} started")
    assert lines[-2:] == ["migrate: STOPPED", "migrate: exited 0"]
    described = ecs.describe_tasks(cluster=task.cluster, tasks=[outcome.task_arn])["tasks"][0]
    assert described["taskDefinitionArn"] == task.task_definition_arn
    assert described["startedBy"] == "colonnade-deploy"
