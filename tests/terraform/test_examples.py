"""Plan, policy-scan and apply every module example against a moto server.

Each example is copied to a temporary directory, given a provider override that points every AWS
endpoint at its own moto server, and planned once; the plan JSON is asserted and scanned by
checkov. The apply tests then apply and require a second plan to be empty, except for the
differences moto's emulation causes, listed with their reasons in conftest.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import (
    EXAMPLES,
    MOTO_APPLY_OVERRIDES,
    MOTO_CANNOT_CREATE,
    MOTO_GAP_MARKERS,
    ExampleRun,
    changes,
    format_failures,
    one_of,
    planned_resources,
    resources_of,
    run_checkov,
    unexplained_changes,
)

pytestmark = [pytest.mark.terraform, pytest.mark.slow]

AZS = {"eu-west-1a", "eu-west-1b", "eu-west-1c"}

################################################################################
# Invariants that hold for every example's plan
################################################################################


@pytest.mark.parametrize("example", EXAMPLES)
def test_plan_security_invariants(example: str, example_runs: Any) -> None:
    """No ingress from 0.0.0.0/0, rotating KMS keys, encrypted and retained log groups."""
    plan = example_runs(example).plan
    resources = planned_resources(plan)
    assert resources, "the plan is empty"

    for r in resources_of(plan, "aws_vpc_security_group_ingress_rule"):
        assert r["values"].get("cidr_ipv4") != "0.0.0.0/0", r["address"]
        assert r["values"].get("cidr_ipv6") != "::/0", r["address"]
    for r in resources_of(plan, "aws_security_group"):
        for rule in r["values"].get("ingress") or []:
            assert "0.0.0.0/0" not in (rule.get("cidr_blocks") or []), r["address"]
    for r in resources_of(plan, "aws_kms_key"):
        assert r["values"]["enable_key_rotation"] is True, r["address"]
    for r in resources_of(plan, "aws_cloudwatch_log_group"):
        assert r["values"]["retention_in_days"] >= 365, r["address"]
        assert "kms_key_id" not in r["values"] or r["values"]["kms_key_id"] != "", r["address"]
    # No password may ever be planned into state.
    for r in resources_of(plan, "aws_rds_cluster"):
        assert r["values"].get("master_password") is None, r["address"]
        assert r["values"].get("master_password_wo") is None, r["address"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_checkov_plan(example: str, example_runs: Any) -> None:
    """checkov over the plan JSON (resolves count and inputs that a source scan cannot).

    Two plans are scanned: the first one, and the one after the apply against moto, in which
    every value is known. The second must pass every check. In the first, a check may fail
    only where the value it reads is unknown until apply (a KMS key ARN created in the same
    run reads as absent to checkov), and then that same check must pass on the same resource
    once the value is known.
    """
    run: ExampleRun = example_runs(example)

    def scan(plan_file: str) -> dict[str, Any]:
        return run_checkov(
            [
                "-f",
                plan_file,
                "--framework",
                "terraform_plan",
                # Reads the .tf files of the copy so inline #checkov:skip comments apply.
                "--repo-root-for-plan-enrichment",
                str(run.workdir.path.parents[2]),  # <copy>/terraform/modules
            ],
            cwd=run.workdir.path,
        )

    first = scan(str(run.plan_file))
    assert first["summary"]["passed"] > 10, first["summary"]
    _second_plan(run)
    after = scan(str(run.workdir.path / "tfplan-second.json"))
    assert after["summary"]["failed"] == 0, format_failures(after)
    passed_after = {(c["check_id"], c["resource"]) for c in after["results"]["passed_checks"]}
    unresolved = [
        c
        for c in first["results"]["failed_checks"]
        if (c["check_id"], c["resource"]) not in passed_after
        or not _unknown_at_plan(run.plan, c["resource"])
    ]
    assert not unresolved, format_failures({"results": {"failed_checks": unresolved}})


def _unknown_at_plan(plan: dict[str, Any], address: str) -> bool:
    """Whether the resource has any attribute still unknown in the first plan."""
    for rc in plan.get("resource_changes", []):
        if rc["address"] == address:
            return any(v is True for v in (rc["change"].get("after_unknown") or {}).values())
    return False


################################################################################
# Per-example plan assertions
################################################################################


def _subnets_by_tier(plan: dict[str, Any]) -> dict[str, set[str]]:
    tiers: dict[str, set[str]] = {}
    for r in resources_of(plan, "aws_subnet"):
        tiers.setdefault(r["values"]["tags"]["Tier"], set()).add(r["values"]["availability_zone"])
    return tiers


def test_plan_network(example_runs: Any) -> None:
    """Three AZs per tier, a NAT gateway per AZ, flow logs and the VPC endpoints."""
    plan = example_runs("network/three-az").plan
    assert _subnets_by_tier(plan) == {"public": AZS, "private": AZS, "database": AZS}
    assert len(resources_of(plan, "aws_nat_gateway")) == 3
    assert len(resources_of(plan, "aws_route_table")) == 1 + 3 + 1  # public, private per AZ, db
    flow = one_of(plan, "aws_flow_log")
    assert flow["traffic_type"] == "ALL"
    services = {
        r["values"]["service_name"].rsplit(".", 1)[-1]
        if "ecr" not in r["values"]["service_name"]
        else r["values"]["service_name"].split("eu-west-1.")[-1]
        for r in resources_of(plan, "aws_vpc_endpoint")
    }
    assert services == {"s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"}
    vpc = one_of(plan, "aws_vpc")
    assert vpc["enable_dns_support"] and vpc["enable_dns_hostnames"]


def test_plan_aurora_prod(example_runs: Any) -> None:
    """Prod-like Aurora: protected, encrypted, IAM auth, 35 days, three AZs, backed up."""
    plan = example_runs("aurora/serverless").plan
    cluster = one_of(plan, "aws_rds_cluster")
    assert cluster["deletion_protection"] is True
    assert cluster["skip_final_snapshot"] is False
    assert cluster["storage_encrypted"] is True
    assert cluster["iam_database_authentication_enabled"] is True
    assert cluster["manage_master_user_password"] is True
    assert cluster["backup_retention_period"] == 35
    assert cluster["engine_version"] == "16"
    assert cluster["serverlessv2_scaling_configuration"][0]["min_capacity"] >= 0.5
    instances = resources_of(plan, "aws_rds_cluster_instance")
    assert {i["values"]["availability_zone"] for i in instances} == AZS
    for i in instances:
        assert i["values"]["performance_insights_enabled"] is True
        assert i["values"]["publicly_accessible"] is False
    rules = resources_of(plan, "aws_vpc_security_group_ingress_rule")
    db_rules = [r for r in rules if "module.aurora" in r["address"]]
    assert len(db_rules) == 1
    assert db_rules[0]["values"].get("cidr_ipv4") is None
    params = {
        p["name"]: p["value"] for p in one_of(plan, "aws_rds_cluster_parameter_group")["parameter"]
    }
    assert params["rds.force_ssl"] == "1"
    assert len(resources_of(plan, "aws_backup_selection")) == 1


def test_plan_cache(example_runs: Any) -> None:
    """Memcached across three AZs with TLS and no CIDR ingress."""
    plan = example_runs("cache/memcached").plan
    cluster = one_of(plan, "aws_elasticache_cluster")
    assert cluster["engine"] == "memcached"
    assert cluster["az_mode"] == "cross-az"
    assert cluster["transit_encryption_enabled"] is True
    assert set(cluster["preferred_availability_zones"]) == AZS
    rules = [
        r
        for r in resources_of(plan, "aws_vpc_security_group_ingress_rule")
        if "module.cache" in r["address"]
    ]
    assert len(rules) == 1 and rules[0]["values"].get("cidr_ipv4") is None
    assert rules[0]["values"]["from_port"] == 11211


def test_plan_backup_cross_region(example_runs: Any) -> None:
    """Encrypted vaults in two regions; every rule copies to the DR vault."""
    run: ExampleRun = example_runs("backup/cross-region")
    plan = run.plan
    assert len(resources_of(plan, "aws_backup_vault")) == 2
    calls = plan["configuration"]["root_module"]["module_calls"]
    assert "dr_vault" in calls and "backup" in calls
    backup_plan = one_of(plan, "aws_backup_plan")
    assert {r["rule_name"] for r in backup_plan["rule"]} == {"daily", "monthly"}
    assert {r["rule_name"]: r["lifecycle"][0]["delete_after"] for r in backup_plan["rule"]} == {
        "daily": 35,
        "monthly": 365,
    }
    lock = one_of(plan, "aws_backup_vault_lock_configuration")
    assert lock["min_retention_days"] == 7 and lock.get("changeable_for_days") is None
    # The copy target is the DR vault's ARN, known only after apply: check it in the state.
    after = one_of(_second_plan(run), "aws_backup_plan")
    dr_vault = next(
        r["values"]
        for r in resources_of(_second_plan(run), "aws_backup_vault")
        if r["values"]["name"].endswith("-dr")
    )
    assert ":eu-central-1:" in dr_vault["arn"]
    for rule in after["rule"]:
        (copy,) = rule["copy_action"]
        assert copy["destination_vault_arn"] == dr_vault["arn"]
        assert copy["lifecycle"][0]["delete_after"] == rule["lifecycle"][0]["delete_after"]


################################################################################
# Apply against moto, then a second plan that must be empty
################################################################################


def _apply(run: ExampleRun) -> str:
    """Apply the saved plan once; return the combined output (errors are checked by callers)."""
    if not run.applied:
        modules = run.workdir.path.parents[2]  # <copy>/terraform/modules
        for module, hcl in MOTO_APPLY_OVERRIDES.items():
            (modules / module / "zz_moto_override.tf").write_text(hcl)
        proc = run.workdir.run(
            "apply", "-input=false", "-no-color", "-auto-approve", ok=(0, 1), timeout=1200
        )
        run.applied = True
        run.notes.append(proc.stdout + proc.stderr)
    return run.notes[0]


def _second_plan(run: ExampleRun) -> dict[str, Any]:
    """The plan after the apply (exit code 2 = changes, judged by the caller); cached."""
    if run.second_plan is None:
        _apply(run)
        run.second_plan = run.workdir.plan_json(
            "-detailed-exitcode", out="tfplan-second", ok=(0, 2)
        )
    return run.second_plan


def _apply_errors(output: str) -> list[str]:
    return [block for block in output.split("Error: ")[1:] if block.strip()]


@pytest.mark.parametrize("example", EXAMPLES)
def test_apply_then_plan_is_empty(example: str, example_runs: Any) -> None:
    """Apply against moto succeeds (but for documented gaps) and a second plan changes nothing."""
    run: ExampleRun = example_runs(example)
    output = _apply(run)
    for error in _apply_errors(output):
        assert any(m in error for m in MOTO_GAP_MARKERS), (
            f"apply failed for a reason that is not a known moto gap:\n{error[:3000]}"
        )
    planned_types = {r["type"] for r in planned_resources(run.plan)}
    if not planned_types & set(MOTO_CANNOT_CREATE):
        assert "Apply complete!" in output, output[-3000:]

    second = _second_plan(run)

    def create_gap(rc: dict[str, Any]) -> bool:
        if rc["change"]["actions"] == ["create"] and rc["type"] in MOTO_CANNOT_CREATE:
            run.notes.append(f"moto gap: {rc['address']} not created")
            return True
        return False

    unexplained = unexplained_changes(second, create_gap)
    assert not unexplained, "second plan is not empty:\n" + "\n".join(unexplained)


def test_network_changing_azs_touches_only_those_azs(example_runs: Any) -> None:
    """Dropping AZ b and adding AZ d must not replace anything of AZs a and c (for_each by AZ)."""
    run: ExampleRun = example_runs("network/three-az")
    _apply(run)
    plan = run.workdir.plan_json('-var=az_letters=["a","c","d"]', out="tfplan-azs")
    for rc in changes(plan):
        actions = rc["change"]["actions"]
        key = str(rc.get("index", ""))
        if actions == ["delete"]:
            assert key.endswith("1b"), f"{rc['address']} deleted"
        elif actions == ["create"]:
            assert key.endswith("1d"), f"{rc['address']} created"
        elif actions == ["update"]:
            # The endpoints' subnet and route-table lists follow the AZs, in place.
            assert rc["type"] == "aws_vpc_endpoint", f"{rc['address']} updated"
        else:
            pytest.fail(f"{rc['address']} {actions}: another AZ's resource would be replaced")
    deleted = {rc["address"] for rc in changes(plan) if rc["change"]["actions"] == ["delete"]}
    assert any(re.search(r'aws_subnet\.private\["eu-west-1b"\]', a) for a in deleted), deleted
