"""Helpers and fixtures for the compute/edge modules and the dev/staging/prod roots.

Builds on ``conftest.py`` (toolchain, Workdir, moto servers, plan helpers) and adds what the
environment roots need that the data-module examples do not:

* a copy of the tree shaped like the repository (``terraform/modules``,
  ``terraform/environments/<env>`` and ``openapi/colonnade.apigateway.json``), so the roots'
  relative paths (``../../modules``, ``../../../openapi``) resolve exactly as in the source tree;
* a moto override that also covers the services these modules call (ELBv2, ECS, API Gateway,
  CloudFront, WAFv2, SNS, Cloud Map, Application Auto Scaling, EKS) and swaps the S3 backend for
  a local one (the roots' backend is S3; the tests never touch a real bucket);
* the moto gaps, each with the reason, and the dependency closure of the resources moto cannot
  create, computed from ``terraform graph`` so the second-plan check stays exact.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from colonnade.deploy.toolchain import Toolchain

from ..conftest import REPO_ROOT, TERRAFORM_ROOT, MotoServer, Workdir, start_moto

ENVIRONMENTS = ("dev", "staging", "prod")
ENVIRONMENTS_ROOT = TERRAFORM_ROOT / "environments"

#: The modules built for the compute and edge issue.
PLATFORM_MODULES = (
    "ecr",
    "ecs-cluster",
    "ecs-service",
    "eks",
    "alb",
    "api-gateway",
    "cdn",
    "observability",
    "state-bootstrap",
    "platform",
)

#: The committed API Gateway document the roots import (generated from the protos).
OPENAPI_DOCUMENT = REPO_ROOT / "openapi" / "colonnade.apigateway.json"

#: Every AWS service the roots call, each pointed at the moto server.
MOTO_SERVICES = (
    "acm",
    "apigateway",
    "applicationautoscaling",
    "backup",
    "cloudfront",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "elasticache",
    "elbv2",
    "iam",
    "kms",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "sns",
    "sts",
    "wafv2",
)

#: Operations moto 5.2.5 does not emulate, keyed by the resource type that calls them, with the
#: reason. The apply may fail on exactly these; their resources and everything that depends on
#: them (see ``dependents``) are checked by plan only (plan JSON assertions and checkov).
MOTO_CANNOT_CREATE: dict[str, str] = {
    "aws_backup_selection": "CreateBackupSelection is not implemented by moto (HTTP 500)",
    "aws_elasticache_parameter_group": (
        "CreateCacheParameterGroup is not implemented by moto (HTTP 500)"
    ),
    "aws_cloudfront_function": "CloudFront Functions (Create/PublishFunction) are not in moto",
    "aws_cloudfront_response_headers_policy": "CreateResponseHeadersPolicy is not in moto (404)",
    # moto's PutBucketLogging crashes ('str' object has no attribute 'get') when the target
    # bucket's policy has a statement with `"Principal": "*"`, which is valid IAM (our
    # deny-insecure-transport statement). Reported behaviour of moto, not of AWS.
    "aws_s3_bucket_logging": 'moto\'s PutBucketLogging fails on a bucket policy with Principal "*"',
    # moto accepts PutReplicationConfiguration but DescribeRegistry returns no rules, so the
    # provider reports "Root object was present, but now absent" (prod only).
    "aws_ecr_replication_configuration": "moto's DescribeRegistry omits the replication rules",
}

#: Error text that identifies each gap in the apply output.
MOTO_GAP_MARKERS = (
    "CreateBackupSelection",
    "CreateCacheParameterGroup",
    "CloudFront Function",
    "CloudFront Response Headers Policy",
    "Logging: operation error S3: PutBucketLogging",
    "aws_ecr_replication_configuration",
)


UNKNOWN = "(known after apply)"


def resolve_unknowns(plan: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``plan`` where values Terraform only knows at apply time are present.

    In plan JSON an attribute computed from another resource (``kms_key_id =
    aws_kms_key.this.arn``) is absent from ``planned_values`` and flagged in ``after_unknown``,
    so checkov reads it as missing and fails checks such as "log group encrypted by KMS". An
    unknown value is never a missing one: Terraform will set it. This fills each unknown leaf
    with a placeholder string; attributes the configuration leaves unset are not in
    ``after_unknown`` and stay absent, so they still fail.
    """
    plan = json.loads(json.dumps(plan))

    def fill(values: Any, unknown: Any, where: str = "") -> Any:
        if unknown is True:
            # Unique per attribute: two different unknowns must never compare equal.
            return values if values not in (None, [], {}) else f"{UNKNOWN}: {where}"
        if isinstance(unknown, dict):
            values = dict(values) if isinstance(values, dict) else {}
            for k, u in unknown.items():
                values[k] = fill(values.get(k), u, f"{where}.{k}")
            return values
        if isinstance(unknown, list):
            values = list(values) if isinstance(values, list) else []
            values += [None] * (len(unknown) - len(values))
            return [
                fill(v, u, f"{where}[{i}]")
                for i, (v, u) in enumerate(zip(values, unknown, strict=False))
            ] + values[len(unknown) :]
        return values

    unknown_by_address = {
        rc["address"]: rc["change"].get("after_unknown") or {}
        for rc in plan.get("resource_changes", [])
    }
    for rc in plan.get("resource_changes", []):
        after = rc["change"].get("after")
        if isinstance(after, dict):
            rc["change"]["after"] = fill(after, unknown_by_address[rc["address"]], rc["address"])

    def walk(module: dict[str, Any]) -> None:
        for r in module.get("resources", []):
            r["values"] = fill(
                r.get("values", {}), unknown_by_address.get(r["address"], {}), r["address"]
            )
        for child in module.get("child_modules", []):
            walk(child)

    walk(plan.get("planned_values", {}).get("root_module", {}))
    return plan


#: (type, attribute) pairs moto reads back differently from what it stored; a second-plan update
#: limited to these is an emulator artefact, not drift.
MOTO_READBACK_GAPS = {
    # moto answers "<account>/<sg-id>" (EC2-Classic pair form) and drops the description of
    # rules that reference a security group.
    ("aws_vpc_security_group_ingress_rule", "referenced_security_group_id"),
    ("aws_vpc_security_group_ingress_rule", "description"),
    # moto ignores Performance Insights on CreateDBInstance.
    ("aws_rds_cluster_instance", "performance_insights_enabled"),
    ("aws_rds_cluster_instance", "performance_insights_kms_key_id"),
    ("aws_rds_cluster_instance", "performance_insights_retention_period"),
    # moto fills the Serverless v1 scaling_configuration block for a provisioned cluster.
    ("aws_rds_cluster", "scaling_configuration"),
    # moto's Backup backend returns no tags, so the provider's default_tags look missing.
    ("aws_backup_plan", "tags_all"),
    ("aws_backup_vault", "tags_all"),
    # moto does not return this NLB attribute from DescribeLoadBalancers.
    ("aws_lb", "enforce_security_group_inbound_rules_on_private_link_traffic"),
}


def copy_platform_tree(dest: Path, openapi: Path = OPENAPI_DOCUMENT) -> Path:
    """Copy modules, environments and the OpenAPI document under ``dest`` in the repo's shape."""
    ignore = shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "tfplan*", "zz_*"
    )
    shutil.copytree(TERRAFORM_ROOT / "modules", dest / "terraform" / "modules", ignore=ignore)
    shutil.copytree(ENVIRONMENTS_ROOT, dest / "terraform" / "environments", ignore=ignore)
    (dest / "openapi").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(openapi, dest / "openapi" / "colonnade.apigateway.json")
    return dest


def moto_override(server: MotoServer) -> str:
    """Provider pointed at moto for every service, plus a local backend instead of S3."""
    return 'terraform {\n  backend "local" {}\n}\n\n' + server.override_hcl([], MOTO_SERVICES)


def moto_certificate(server: MotoServer, domain: str = "api.internal.example.com") -> str:
    """Request an ACM certificate from moto (the ALB listener needs one that exists there)."""
    import boto3

    acm = boto3.client(
        "acm",
        region_name="eu-west-1",
        endpoint_url=server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn: str = acm.request_certificate(DomainName=domain)["CertificateArn"]
    return arn


def config_address(rc: dict[str, Any]) -> str:
    """A resource change's address without instance keys (how ``terraform graph`` names it)."""
    module = re.sub(r"\[[^\]]*\]", "", rc.get("module_address", ""))
    base = (
        f"{rc['type']}.{rc['name']}"
        if rc["mode"] == "managed"
        else f"data.{rc['type']}.{rc['name']}"
    )
    return f"{module}.{base}" if module else base


def dependents(workdir: Workdir, roots: set[str]) -> set[str]:
    """Config addresses that depend, directly or transitively, on any address in ``roots``."""
    dot = workdir.run("graph").stdout
    edges = re.findall(r'"([^"]+)" -> "([^"]+)"', dot)
    reverse: dict[str, set[str]] = {}
    for src, dst in edges:  # src depends on dst
        reverse.setdefault(dst, set()).add(src)
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        for dep in reverse.get(node, ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@dataclass
class EnvRun:
    """One environment root copied, initialised and planned against its own moto server."""

    env: str
    workdir: Workdir
    moto: MotoServer
    plan: dict[str, Any]
    certificate_arn: str
    apply_output: str | None = None
    second_plan: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def plan_file(self) -> Path:
        return self.workdir.path / "tfplan.json"

    @property
    def tree_root(self) -> Path:
        """The copy's repository root (parent of terraform/ and openapi/)."""
        return self.workdir.path.parents[2]

    def apply(self) -> str:
        """Apply the saved plan once (exit 1 allowed: gaps are checked by the caller)."""
        if self.apply_output is None:
            proc = self.workdir.run(
                "apply",
                "-input=false",
                "-no-color",
                "-parallelism=20",
                "tfplan",
                ok=(0, 1),
                timeout=1500,
            )
            self.apply_output = proc.stdout + proc.stderr
        return self.apply_output

    def replan(self) -> dict[str, Any]:
        """The plan after the apply (once), which the tests require to be empty but for gaps."""
        if self.second_plan is None:
            self.second_plan = self.workdir.plan_json("-parallelism=20", out="tfplan-second")
        return self.second_plan


_INIT_LOCK = threading.Lock()


def _prepare_env(env: str, toolchain: Toolchain, base: Path) -> EnvRun:
    """Copy, start moto, write the override and test variables, init and plan one environment."""
    copy_platform_tree(base)
    root = base / "terraform" / "environments" / env
    server = start_moto(base)
    try:
        (root / "zz_moto_override.tf").write_text(moto_override(server))
        cert = moto_certificate(server)
        # The certificate is account-specific, so it is never in terraform.tfvars; the
        # README passes it the same way (an untracked *.auto.tfvars or TF_VAR_).
        (root / "zz_test.auto.tfvars.json").write_text(json.dumps({"certificate_arn": cert}))
        wd = Workdir(root, toolchain, timeout=1500)
        # A real init (the override's local backend), not -backend=false: plan needs state.
        # One at a time: the environments share a plugin cache, which Terraform does not make
        # safe for concurrent installs ("mkdir …/linux_amd64: file exists"); plans overlap.
        with _INIT_LOCK:
            wd.run("init", "-input=false", "-no-color", timeout=300)
        plan = wd.plan_json("-parallelism=20")
    except BaseException:
        server.stop()
        raise
    return EnvRun(env, wd, server, plan, cert)


@pytest.fixture(scope="session")
def env_runs(
    toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, EnvRun]]:
    """The three environments, planned in parallel (each against its own moto server)."""
    if not OPENAPI_DOCUMENT.is_file():
        pytest.fail(
            f"{OPENAPI_DOCUMENT.relative_to(REPO_ROOT)} is missing: the environment roots import "
            "it as the API Gateway body (generate it with the OpenAPI generator)",
            pytrace=False,
        )
    # Terraform and moto mostly wait on each other, so three at once fit on two cores.
    bases = {env: tmp_path_factory.mktemp(f"env-{env}") for env in ENVIRONMENTS}
    with ThreadPoolExecutor(max_workers=len(ENVIRONMENTS)) as pool:
        futures = {
            env: pool.submit(_prepare_env, env, toolchain, bases[env]) for env in ENVIRONMENTS
        }
        runs: dict[str, EnvRun] = {}
        errors: list[str] = []
        for env, fut in futures.items():
            try:
                runs[env] = fut.result()
            except BaseException as exc:  # keep the others' servers to stop them below
                errors.append(f"{env}: {exc}")
    try:
        if errors:
            pytest.fail("\n".join(errors), pytrace=False)
        yield runs
    finally:
        for run in runs.values():
            run.moto.stop()


@pytest.fixture(scope="session")
def applied_envs(env_runs: dict[str, EnvRun]) -> dict[str, EnvRun]:
    """The three environments applied against their moto servers, in parallel."""
    with ThreadPoolExecutor(max_workers=len(env_runs)) as pool:
        list(pool.map(lambda r: (r.apply(), r.replan()), env_runs.values()))
    return env_runs
