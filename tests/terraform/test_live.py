"""The dev, staging and prod roots: shape, plan JSON, policy scan, apply against moto, re-plan.

Each root is copied with the modules and the committed OpenAPI document, pointed at its own moto
server (provider endpoints + a local backend in an override file), planned once per session and
reused by every test here.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ..conftest import (
    changed_attributes,
    changes,
    format_failures,
    planned_resources,
    resources_of,
    run_checkov,
)
from .harness import (
    ENVIRONMENTS,
    ENVIRONMENTS_ROOT,
    MOTO_CANNOT_CREATE,
    MOTO_GAP_MARKERS,
    MOTO_READBACK_GAPS,
    OPENAPI_DOCUMENT,
    EnvRun,
    config_address,
    dependents,
    resolve_unknowns,
)

pytestmark = pytest.mark.terraform

AZS = {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def _values(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r["values"] for r in resources_of(plan, rtype)]


def _unknown(plan: dict[str, Any], address: str) -> dict[str, Any]:
    """``after_unknown`` of a resource change (what the plan leaves to apply time)."""
    for rc in plan["resource_changes"]:
        if rc["address"] == address:
            unknown: dict[str, Any] = rc["change"].get("after_unknown") or {}
            return unknown
    raise KeyError(address)


################################################################################
# Source shape: environments differ by data, not code
################################################################################


def test_roots_share_their_code() -> None:
    """main.tf, variables.tf, outputs.tf and versions.tf are byte-identical in every root."""
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        texts = {env: (ENVIRONMENTS_ROOT / env / name).read_text() for env in ENVIRONMENTS}
        assert len(set(texts.values())) == 1, f"{name} differs between environments"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backend_is_s3_with_locking(env: str) -> None:
    """Remote state in S3, encrypted, locked with a lock file, one key per environment."""
    text = (ENVIRONMENTS_ROOT / env / "backend.tf").read_text()
    assert re.search(r'backend\s+"s3"', text)
    assert re.search(r"use_lockfile\s*=\s*true", text)
    assert re.search(r"encrypt\s*=\s*true", text)
    assert f'"environments/{env}/terraform.tfstate"' in text
    # Only the key differs between environments.
    other = (ENVIRONMENTS_ROOT / "dev" / "backend.tf").read_text()
    assert text.replace(f"environments/{env}/", "environments/dev/") == other


def test_roots_import_the_committed_openapi_document() -> None:
    """The API body is read from openapi/colonnade.apigateway.json, not a copy."""
    main = (ENVIRONMENTS_ROOT / "dev" / "main.tf").read_text()
    assert '"${path.root}/../../../openapi/colonnade.apigateway.json"' in main
    assert (ENVIRONMENTS_ROOT / "dev" / "../../../openapi/colonnade.apigateway.json").resolve() == (
        OPENAPI_DOCUMENT.resolve()
    )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_image_tags_file(env: str) -> None:
    """Image tags live in a JSON tfvars file that scripts/set_image_tags.py rewrites."""
    data = json.loads((ENVIRONMENTS_ROOT / env / "images.auto.tfvars.json").read_text())
    assert set(data["image_tags"]) == {"gateway", "catalog", "orders"}
    assert "latest" not in data["image_tags"].values()


################################################################################
# Plan JSON
################################################################################


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_three_azs_everywhere(env: str, env_runs: dict[str, EnvRun]) -> None:
    """Subnets, load balancers, tasks, Aurora and memcached all span the three AZs."""
    plan = env_runs[env].plan
    tiers: dict[str, set[str]] = {}
    for s in _values(plan, "aws_subnet"):
        tiers.setdefault(s["tags"]["Tier"], set()).add(s["availability_zone"])
    assert tiers == {"public": AZS, "private": AZS, "database": AZS}
    # Load balancer and task subnets are IDs known only after apply: the apply test checks
    # them against the created subnets' AZs.
    services = _values(plan, "aws_ecs_service")
    assert {s["name"] for s in services} == {"gateway", "catalog", "orders"}
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
        if re.match(r"^/colonnade-[a-z]+/(gateway|catalog|orders)$", g["name"])
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
        "ecr_replication": len(resources_of(plan, "aws_ecr_replication_configuration")),
        "fargate_spot": any(
            s["capacity_provider"] == "FARGATE_SPOT"
            for c in _values(plan, "aws_ecs_cluster_capacity_providers")
            for s in c["default_capacity_provider_strategy"]
        ),
    }


def test_dev_and_prod_differ_where_intended(env_runs: dict[str, EnvRun]) -> None:
    """Single NAT + scale-to-zero in dev; NAT per AZ, 2+ tasks, protection, retention in prod."""
    dev, prod = _sizing(env_runs["dev"].plan), _sizing(env_runs["prod"].plan)
    assert dev["nat_gateways"] == 1 and prod["nat_gateways"] == 3
    assert dev["aurora_min_acu"] == 0 and prod["aurora_min_acu"] >= 0.5
    assert dev["aurora_deletion_protection"] is False and prod["aurora_deletion_protection"] is True
    assert dev["aurora_instances"] == 1 and prod["aurora_instances"] == 3
    assert prod["aurora_backup_days"] > dev["aurora_backup_days"]
    assert all(n >= 2 for n in prod["min_tasks"].values()), prod["min_tasks"]
    assert set(prod["min_tasks"]) == {"gateway", "catalog", "orders"}
    assert dev["alb_deletion_protection"] is False and prod["alb_deletion_protection"] is True
    assert dev["nlb_deletion_protection"] is False and prod["nlb_deletion_protection"] is True
    assert min(prod["service_log_retention"]) > max(dev["service_log_retention"])
    assert min(prod["service_log_retention"]) >= 365
    assert dev["api_cache"] is False and prod["api_cache"] is True
    assert dev["ecr_replication"] == 0 and prod["ecr_replication"] == 1
    assert dev["fargate_spot"] is True and prod["fargate_spot"] is False
    staging = _sizing(env_runs["staging"].plan)
    assert staging["nat_gateways"] == 3 and staging["aurora_deletion_protection"] is True


def _resource_keys(plan: dict[str, Any]) -> set[str]:
    return {r["address"] for r in planned_resources(plan) if r["mode"] == "managed"}


def test_prod_has_no_unintended_extra_resources(env_runs: dict[str, EnvRun]) -> None:
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
        "module.platform.module.ecr.aws_ecr_replication_configuration.this[*]",
        # prod keeps monthly snapshots for a year (a second backup rule only, no resource) and
        # a third memcached node (an attribute), so neither adds addresses.
    }
    assert only_prod == expected, sorted(only_prod ^ expected)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_data_stores_are_private_and_encrypted(env: str, env_runs: dict[str, EnvRun]) -> None:
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
        covering = {r["address"].rsplit(".", 1)[0] for r in resources_of(plan, rtype)}
        assert len(covering) == len(buckets) or len(resources_of(plan, rtype)) == len(buckets), (
            rtype
        )
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
    for g in resources_of(plan, "aws_cloudwatch_log_group"):
        # Either a key ARN known at plan time or one computed from a key created here.
        after_unknown = next(
            rc["change"]["after_unknown"]
            for rc in plan["resource_changes"]
            if rc["address"] == g["address"]
        )
        assert g["values"].get("kms_key_id") or after_unknown.get("kms_key_id"), g["address"]
    for t in resources_of(plan, "aws_sns_topic"):
        after_unknown = next(
            rc["change"]["after_unknown"]
            for rc in plan["resource_changes"]
            if rc["address"] == t["address"]
        )
        assert t["values"].get("kms_master_key_id") or after_unknown.get("kms_master_key_id")
    for k in _values(plan, "aws_kms_key"):
        assert k["enable_key_rotation"] is True
    for rule in _values(plan, "aws_vpc_security_group_ingress_rule"):
        assert rule.get("cidr_ipv4") != "0.0.0.0/0"
    for lb in _values(plan, "aws_lb"):
        assert lb["internal"] is True


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_api_gateway_body_is_the_committed_document(env: str, env_runs: dict[str, EnvRun]) -> None:
    """The REST API imports exactly the committed document; the stage wires its variables."""
    plan = env_runs[env].plan
    api = _values(plan, "aws_api_gateway_rest_api")
    assert len(api) == 1
    assert api[0]["body"] == OPENAPI_DOCUMENT.read_text()
    deployment = _values(plan, "aws_api_gateway_deployment")[0]
    assert (
        deployment["triggers"]["redeployment"]
        == hashlib.sha1(OPENAPI_DOCUMENT.read_bytes()).hexdigest()
    )
    stage = resources_of(plan, "aws_api_gateway_stage")[0]
    assert stage["values"]["stage_name"] == env
    assert stage["values"]["xray_tracing_enabled"] is True
    # The stage sets vpcLinkId and backendHost (asserted in the module's tftest; their values
    # are known only after apply); the document may use no other stage variable.
    used = set(re.findall(r"\$\{stageVariables\.([A-Za-z0-9_]+)\}", OPENAPI_DOCUMENT.read_text()))
    assert used <= {"vpcLinkId", "backendHost"}, (
        f"the document uses stage variables no stage sets: {used}"
    )


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


def test_grpc_target_groups_and_listener(env_runs: dict[str, EnvRun]) -> None:
    """gRPC target groups with grpc.health.v1 checks behind the HTTPS listener, HTTP redirects."""
    plan = env_runs["prod"].plan
    groups = {g["name"]: g for g in _values(plan, "aws_lb_target_group")}
    grpc = [g for g in groups.values() if g.get("protocol_version") == "GRPC"]
    assert len(grpc) == 2
    for g in grpc:
        assert g["health_check"][0]["matcher"] == "0"
        assert g["health_check"][0]["path"] == "/grpc.health.v1.Health/Check"
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
        "CKV_AWS_225": "method caching follows the stage cache (prod only)",
    },
    "staging": {
        "CKV_AWS_338": "staging keeps service logs 90 days, not a year",
        "CKV_AWS_120": "the API Gateway cache cluster is a prod-only cost",
        "CKV_AWS_225": "method caching follows the stage cache (prod only)",
    },
    "prod": {},
}


def _failed(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]}


def _checkov_failures(run: EnvRun, plan: dict[str, Any], name: str) -> set[tuple[str, str]]:
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
                        str(run.tree_root),
                    ],
                    cwd=run.workdir.path,
                ),
                (raw, resolved),
            )
        )
    for report in reports:
        assert report["summary"]["passed"] > 300, report["summary"]
        for skipped in report["results"].get("skipped_checks", []):
            comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
            assert len(comment) > 20, f"skip without a reason: {skipped['check_id']}"
    failed = _failed(reports[0]) & _failed(reports[1])
    if failed:
        print(format_failures(reports[1]))
    return failed


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_checkov_plan(env: str, env_runs: dict[str, EnvRun]) -> None:
    """checkov over the environment's plan JSON: nothing fails but the intended differences."""
    run = env_runs[env]
    failed = _checkov_failures(run, run.plan, "tfplan.checkov")
    intended = ENVIRONMENT_INTENDED_FAILURES[env]
    unexpected = sorted(f for f in failed if f[0] not in intended)
    assert not unexpected, "\n".join(f"{c} on {r}" for c, r in unexpected)
    still_failing = {c for c, _ in failed}
    assert still_failing == set(intended), (
        f"intended failures that no longer fail: {set(intended) - still_failing}"
    )


def test_eks_variant_plans_and_passes_checkov(env_runs: dict[str, EnvRun]) -> None:
    """prod with ``compute = "eks"``: planned and scanned, never applied here.

    Plan only, because moto 5.2.5's EKS backend has clusters, node groups and Fargate profiles
    but no add-ons (CreateAddon), access entries or pod identity associations, which the eks
    module needs. The ECS variant is the one applied against moto.
    """
    run = env_runs["prod"]
    plan = run.workdir.plan_json("-var=compute=eks", "-parallelism=20", out="tfplan-eks")
    assert not resources_of(plan, "aws_ecs_service") and not resources_of(plan, "aws_ecs_cluster")
    cluster = _values(plan, "aws_eks_cluster")
    assert len(cluster) == 1
    assert cluster[0]["vpc_config"][0]["endpoint_public_access"] is False
    assert len(cluster[0]["enabled_cluster_log_types"]) == 5
    groups = resources_of(plan, "aws_eks_node_group")
    assert {g["index"] for g in groups} == AZS, "one managed node group per AZ"
    assert {a["addon_name"] for a in _values(plan, "aws_eks_addon")} == {
        "vpc-cni",
        "coredns",
        "kube-proxy",
        "eks-pod-identity-agent",
    }
    identities = _values(plan, "aws_eks_pod_identity_association")
    assert {(i["namespace"], i["service_account"]) for i in identities} == {
        ("colonnade", s) for s in ("gateway", "catalog", "orders")
    }
    # Aurora and memcached now admit the cluster's security group instead of the tasks'.
    db_rules = [
        r
        for r in resources_of(plan, "aws_vpc_security_group_ingress_rule")
        if "module.aurora" in r["address"]
    ]
    assert {r["index"] for r in db_rules} == {"eks"}
    assert not _checkov_failures(run, plan, "tfplan-eks.checkov")


################################################################################
# Apply against moto, then a second plan that must be empty
################################################################################


@pytest.mark.slow
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply_then_plan_is_empty(env: str, applied_envs: dict[str, EnvRun]) -> None:
    """Apply succeeds but for moto's documented gaps, and the next plan changes nothing else.

    What moto cannot create (``MOTO_CANNOT_CREATE``, with reasons) and everything that depends
    on it stays planned-only: those resources are covered by the plan JSON tests and checkov.
    Every other resource must be created and must not show up in the second plan.
    """
    run = applied_envs[env]
    output = run.apply_output or ""
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

    second = run.replan()
    unexplained = []
    for rc in changes(second):
        actions = rc["change"]["actions"]
        if config_address(rc) in planned_only:
            continue
        if actions == ["update"]:
            attrs = changed_attributes(rc)
            if attrs and all((rc["type"], a) in MOTO_READBACK_GAPS for a in attrs):
                continue
            unexplained.append(f"{rc['address']} update {sorted(attrs)}")
            continue
        unexplained.append(f"{rc['address']} {actions}")
    assert not unexplained, "second plan is not empty:\n" + "\n".join(unexplained)

    # Now that the subnets exist, every load balancer and every service (created, or still
    # planned behind a gap) must use subnets in all three AZs.
    state = json.loads(run.workdir.run("show", "-json").stdout)
    subnet_az = {
        r["values"]["id"]: r["values"]["availability_zone"]
        for r in planned_resources({"planned_values": state["values"]})
        if r["type"] == "aws_subnet"
    }
    spread = [
        (r["address"], r["values"]["subnets"])
        for r in resources_of(second, "aws_lb")
        + resources_of({"planned_values": state["values"]}, "aws_lb")
    ] + [
        (r["address"], r["values"]["network_configuration"][0]["subnets"])
        for r in resources_of(second, "aws_ecs_service")
    ]
    assert {a for a, _ in spread} >= {"module.platform.module.alb.aws_lb.this"}
    assert sum(1 for a, _ in spread if "aws_ecs_service" in a) == 3
    for address, subnets in spread:
        assert {subnet_az[s] for s in subnets} == AZS, address

    # The gaps must not swallow the platform: the core of it was really created.
    created = {r["type"] for r in planned_resources({"planned_values": state["values"]})}
    for must in (
        "aws_vpc",
        "aws_nat_gateway",
        "aws_rds_cluster",
        "aws_lb",
        "aws_lb_listener",
        "aws_lb_target_group",
        "aws_api_gateway_rest_api",
        "aws_api_gateway_stage",
        "aws_api_gateway_vpc_link",
        "aws_ecs_cluster",
        "aws_ecr_repository",
        "aws_sns_topic",
        "aws_cloudwatch_metric_alarm",
        "aws_wafv2_web_acl",
        "aws_s3_bucket",
    ):
        assert must in created, f"{must} was not created against moto"
