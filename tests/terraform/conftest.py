"""Pytest harness for the Terraform tree.

Fixtures here find the Terraform CLI and the AWS provider (a filesystem mirror on this machine's
image, the registry elsewhere), write a CLI config of their own, copy a module or example into a
temporary directory, run Terraform there, start moto servers on free loopback ports and scan with
checkov. Nothing is downloaded when a mirror is present, and the source tree is never written to.

If the CLI or the provider is missing, tests fail with a message naming what to install, or skip
with that message when ``COLONNADE_SKIP_TERRAFORM=1``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.deploy.toolchain import (
    Toolchain,
    ToolchainError,
    prepare_toolchain,
    provider_missing_hint,
)

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
TERRAFORM_ROOT: Path = REPO_ROOT / "terraform"
MODULES_ROOT = TERRAFORM_ROOT / "modules"

#: Every module: each gets fmt, validate, its native tests, checkov and a README check.
MODULES = tuple(sorted(p.name for p in MODULES_ROOT.iterdir() if (p / "main.tf").is_file()))

#: Every example directory of those modules, as "module/example".
EXAMPLES = tuple(
    f"{m}/{e.name}"
    for m in MODULES
    for e in sorted((MODULES_ROOT / m / "examples").glob("*"))
    if e.is_dir() and any(e.glob("*.tf"))
)

#: AWS services the modules, examples and roots call; each gets a moto endpoint in the override.
MOTO_SERVICES = (
    "acm",
    "apigateway",
    "applicationautoscaling",
    "backup",
    "cloudfront",
    "cloudwatch",
    "cognitoidp",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "elasticache",
    "elbv2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "rds",
    "s3",
    "secretsmanager",
    "servicediscovery",
    "servicequotas",
    "sns",
    "sts",
    "wafv2",
)

SKIP_ENV = "COLONNADE_SKIP_TERRAFORM"


def _unavailable(message: str) -> None:
    """Fail (or skip, when the user asked for it) because the toolchain is incomplete."""
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"{SKIP_ENV}=1 and {message}")
    pytest.fail(f"{message} (set {SKIP_ENV}=1 to skip the Terraform tests instead)", pytrace=False)


class TerraformError(AssertionError):
    """A Terraform command failed; the message carries its output."""


@dataclass
class Workdir:
    """A temporary copy of a Terraform root and the commands run in it."""

    path: Path
    toolchain: Toolchain
    timeout: float = 900

    def run(
        self, *args: str, ok: tuple[int, ...] = (0,), timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``terraform <args>`` here; raise :class:`TerraformError` on an unexpected exit."""
        cmd = [self.toolchain.terraform, *args]
        proc = subprocess.run(
            cmd,
            cwd=self.path,
            env=self.toolchain.env(),
            capture_output=True,
            text=True,
            timeout=timeout or self.timeout,
            check=False,
        )
        if proc.returncode not in ok:
            raise TerraformError(
                f"`terraform {' '.join(args)}` in {self.path} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
            )
        return proc

    def init(self) -> None:
        """``terraform init -backend=false``; a provider that cannot install is said plainly."""
        try:
            self.run("init", "-backend=false", "-input=false", "-no-color", timeout=300)
        except TerraformError as exc:
            text = str(exc)
            if "provider" in text and (
                "Failed to query available provider packages" in text
                or "Failed to install provider" in text
                or "could not connect" in text
            ):
                _unavailable(f"{provider_missing_hint(self.toolchain)}\n{text[-2000:]}")
            raise

    def plan_json(
        self, *extra: str, out: str = "tfplan", ok: tuple[int, ...] = (0,)
    ) -> dict[str, Any]:
        """``terraform plan -out`` then ``show -json``; returns the plan and writes <out>.json."""
        self.run("plan", "-input=false", "-no-color", f"-out={out}", *extra, ok=ok)
        shown = self.run("show", "-json", out).stdout
        (self.path / f"{out}.json").write_text(shown)
        plan: dict[str, Any] = json.loads(shown)
        return plan


#: What the roots read outside terraform/: the committed API document and the web UI.
ROOT_INPUTS = ("openapi/colonnade.apigateway.json", "services/colonnade/web")


def copy_tree(dest: Path) -> Path:
    """Copy ``terraform/`` (no local state or caches) and what the roots read under ``dest``.

    The copy has the repository's shape, so the roots' relative paths resolve as in the source
    tree. Returns the copy's ``terraform`` directory; the lock files are kept (the roots' are
    committed and must match the mirror).
    """
    target = dest / "terraform"
    shutil.copytree(
        TERRAFORM_ROOT,
        target,
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "tfplan*", "zz_*", "__pycache__"),
    )
    for rel in ROOT_INPUTS:
        src = REPO_ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
    return target


@pytest.fixture(scope="session")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Toolchain:
    """The Terraform CLI, the provider mirror, a CLI config and plugin cache in the tmp dir."""
    base = tmp_path_factory.mktemp("tf-toolchain")
    try:
        tc = prepare_toolchain(base / "config", base / "plugin-cache")
    except ToolchainError as exc:
        _unavailable(str(exc))
        raise  # unreachable: _unavailable always raises
    version = subprocess.run(
        [tc.terraform, "version", "-json"], capture_output=True, text=True, check=False
    )
    if version.returncode != 0:
        _unavailable(f"`{tc.terraform} version` failed: {version.stderr.strip()}")
    found = json.loads(version.stdout)["terraform_version"]
    major, minor = (int(x) for x in found.split(".")[:2])
    if (major, minor) < (1, 7):
        _unavailable(f"Terraform {found} is too old: install 1.7 or later (mock_provider tests)")
    return tc


@pytest.fixture(scope="session")
def tree_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One session-wide copy of terraform/ for read-mostly checks (validate, test)."""
    return copy_tree(tmp_path_factory.mktemp("tf-tree"))


@pytest.fixture(scope="session")
def initialised(toolchain: Toolchain, tree_copy: Path) -> Any:
    """A function giving an initialised (cached) Workdir for a path relative to terraform/."""
    cache: dict[str, Workdir] = {}

    def get(rel: str) -> Workdir:
        if rel not in cache:
            wd = Workdir(tree_copy / rel, toolchain)
            wd.init()
            cache[rel] = wd
        return cache[rel]

    return get


################################################################################
# moto
################################################################################


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class MotoServer:
    """A moto server subprocess on a loopback port; stopping it discards every resource."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def override_hcl(self, aliases: list[str], services: Sequence[str] = MOTO_SERVICES) -> str:
        """Provider blocks (default and each alias) pointing every service at this server."""
        endpoints = "\n".join(f'    {s} = "{self.url}"' for s in services)
        blocks = []
        for alias in [None, *aliases]:
            alias_line = f'  alias = "{alias}"\n' if alias else ""
            blocks.append(
                'provider "aws" {\n'
                f"{alias_line}"
                '  access_key                  = "testing"\n'
                '  secret_key                  = "testing"\n'
                "  skip_credentials_validation = true\n"
                "  skip_requesting_account_id  = true\n"
                "  skip_metadata_api_check     = true\n"
                "  s3_use_path_style           = true\n"
                # moto answers 500 for operations it lacks: a few attempts instead of
                # the SDK's 25 retries turn a 10-minute hang into a clear error, while a
                # connection the loaded server drops mid-response is still retried.
                "  max_retries                 = 3\n"
                "  endpoints {\n"
                f"{endpoints}\n"
                "  }\n"
                "}\n"
            )
        return "\n".join(blocks)

    def write_override(self, root: Path, local_backend: bool = False) -> Path:
        """Write ``zz_moto_override.tf`` into a temporary root (never into the source tree).

        A provider block per configuration (aliases included) points at this server;
        ``local_backend`` also swaps the root's S3 backend for a local one.
        """
        assert not str(root.resolve()).startswith(str(TERRAFORM_ROOT.resolve())), root
        text = "\n".join(p.read_text() for p in root.glob("*.tf"))
        aliases = sorted(set(re.findall(r'^\s*alias\s*=\s*"([^"]+)"', text, flags=re.M)))
        backend = 'terraform {\n  backend "local" {}\n}\n\n' if local_backend else ""
        path = root / "zz_moto_override.tf"
        path.write_text(backend + self.override_hcl(aliases))
        return path


def start_moto(log_dir: Path) -> MotoServer:
    """Start ``moto.server`` in a subprocess on a free port and wait until it answers."""
    log = log_dir / "moto.log"
    env = dict(os.environ)
    # AWS managed policies (AmazonRDSEnhancedMonitoringRole, AWSBackupServiceRolePolicyFor*)
    # exist in every real account; moto only knows them when asked to load them.
    env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    for _ in range(3):
        port = free_port()
        with log.open("wb") as fh:
            # moto with one RunTask bug fixed (see moto_server.py).
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.terraform.moto_server",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
            )
        server = MotoServer(port, proc, log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{server.url}/moto-api/", timeout=2):
                    return server
            except OSError:
                time.sleep(0.3)
        server.stop()
    pytest.fail(f"moto server did not start; see {log}: {log.read_text()[-2000:]}")


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    """A fresh moto server for one test, discarded afterwards (that is the teardown)."""
    server = start_moto(tmp_path)
    yield server
    server.stop()


################################################################################
# Examples: plan against moto once per session, reused by plan and apply tests
################################################################################


@dataclass
class ExampleRun:
    """An example copied to a temp dir, initialised and planned against its own moto server."""

    name: str
    workdir: Workdir
    moto: MotoServer
    plan: dict[str, Any]
    applied: bool = False
    notes: list[str] = field(default_factory=list)
    second_plan: dict[str, Any] | None = None

    @property
    def plan_file(self) -> Path:
        return self.workdir.path / "tfplan.json"


@pytest.fixture(scope="session")
def example_runs(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A function ``get(example) -> ExampleRun``; each example is planned once per session."""
    runs: dict[str, ExampleRun] = {}

    def get(example: str) -> ExampleRun:
        if example not in runs:
            base = tmp_path_factory.mktemp("example-" + example.replace("/", "-"))
            tree = copy_tree(base)
            module, ex = example.split("/")
            root = tree / "modules" / module / "examples" / ex
            server = start_moto(base)
            try:
                server.write_override(root)
                wd = Workdir(root, toolchain)
                wd.init()
                plan = wd.plan_json()
            except BaseException:
                server.stop()
                raise
            runs[example] = ExampleRun(example, wd, server, plan)
        return runs[example]

    yield get
    for run in runs.values():
        run.moto.stop()


################################################################################
# Plan JSON helpers
################################################################################


def planned_resources(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every resource in ``planned_values``, walking child modules."""
    out: list[dict[str, Any]] = []

    def walk(mod: dict[str, Any]) -> None:
        out.extend(mod.get("resources", []))
        for child in mod.get("child_modules", []):
            walk(child)

    walk(plan.get("planned_values", {}).get("root_module", {}))
    return out


def resources_of(plan: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    """Planned resources of one type (managed resources only)."""
    return [r for r in planned_resources(plan) if r["type"] == rtype and r["mode"] == "managed"]


def one_of(plan: dict[str, Any], rtype: str) -> dict[str, Any]:
    """The values of the single planned resource of ``rtype``."""
    found = resources_of(plan, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {[r['address'] for r in found]}"
    values: dict[str, Any] = found[0]["values"]
    return values


def changes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Resource changes whose actions are not a no-op or a read."""
    return [
        rc
        for rc in plan.get("resource_changes", [])
        if rc["change"]["actions"] not in (["no-op"], ["read"])
    ]


def changed_attributes(rc: dict[str, Any]) -> set[str]:
    """Top-level attributes that differ between before and after of an update."""
    before = rc["change"].get("before") or {}
    after = rc["change"].get("after") or {}
    unknown = rc["change"].get("after_unknown") or {}
    keys = set(before) | set(after)
    return {k for k in keys if before.get(k) != after.get(k) and not unknown.get(k)}


################################################################################
# moto's gaps: one list for the examples and the roots
################################################################################

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
    # provider reports "Root object was present, but now absent" (account root).
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

#: Files written into a module of a root's temporary copy for the apply phase only (plan
#: assertions and checkov see the module untouched). Each routes around a MOTO_CANNOT_CREATE gap
#: so that what depends on it is applied and re-planned: the memcached cluster uses AWS's
#: default parameter group of its family instead of the module's (which moto cannot create),
#: so the cluster, and the outputs that carry its endpoint, exist after the apply.
MOTO_APPLY_OVERRIDES = {
    "cache": 'resource "aws_elasticache_cluster" "this" {\n'
    '  parameter_group_name = "default.memcached1.6"\n}\n',
    # The web UI's app client returns to the CloudFront domain, which moto cannot create (its
    # distribution needs a CloudFront Function): with a fixed URL here, the token issuer and
    # every task definition that names its client ids are applied and re-planned.
    "platform": 'module "identity" {\n'
    "  web_client = {\n"
    "    scopes        = local.api_scopes\n"
    '    callback_urls = ["https://moto.cloudfront.invalid/"]\n'
    '    logout_urls   = ["https://moto.cloudfront.invalid/"]\n'
    "  }\n}\n",
}

#: (type, attribute) pairs moto reads back differently from what it stored; a second-plan update
#: limited to these is an emulator artefact, not drift.
MOTO_READBACK_GAPS = {
    # moto answers "<account>/<sg-id>" (EC2-Classic pair form) and drops the description of
    # rules that reference a security group.
    ("aws_vpc_security_group_ingress_rule", "referenced_security_group_id"),
    ("aws_vpc_security_group_ingress_rule", "description"),
    # The same for egress rules that reference a security group (the lambda module's).
    ("aws_vpc_security_group_egress_rule", "referenced_security_group_id"),
    ("aws_vpc_security_group_egress_rule", "description"),
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
    # moto's CreateCacheCluster drops AZMode and SecurityGroupIds for memcached (asserted in
    # the plan and in the cache module's terraform test instead).
    ("aws_elasticache_cluster", "az_mode"),
    ("aws_elasticache_cluster", "security_group_ids"),
}


def unexplained_changes(second: dict[str, Any], explained: Any) -> list[str]:
    """Changes of a plan made after an apply against moto that no documented gap explains.

    ``explained(rc)`` says whether a resource change is covered by a create gap (how each
    harness decides); updates limited to MOTO_READBACK_GAPS attributes are emulator artefacts.
    """
    unexplained = []
    for rc in changes(second):
        if explained(rc):
            continue
        actions = rc["change"]["actions"]
        if actions == ["update"]:
            attrs = changed_attributes(rc)
            if attrs and all((rc["type"], a) in MOTO_READBACK_GAPS for a in attrs):
                continue
            unexplained.append(f"{rc['address']} update {sorted(attrs)}")
            continue
        unexplained.append(f"{rc['address']} {actions}")
    return unexplained


################################################################################
# checkov
################################################################################


def checkov_bin() -> str:
    """The checkov executable of this virtualenv (or on PATH)."""
    local = Path(sys.executable).parent / "checkov"
    if local.exists():
        return str(local)
    found = shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: `pip install -e '.[deploy]'`", pytrace=False)
    return found


def run_checkov(args: list[str], cwd: Path) -> dict[str, Any]:
    """Run checkov with JSON output and return the report (a single framework's dict)."""
    env = dict(os.environ)
    env["BC_SKIP_MAPPING"] = "TRUE"  # no call to the Prisma Cloud API for guideline links
    env["CHECKOV_RUN_SCA_PACKAGE_SCAN_V2"] = "false"
    proc = subprocess.run(
        [checkov_bin(), *args, "--output", "json", "--compact", "--soft-fail"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"checkov failed to run:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    if isinstance(report, list):  # one entry per framework
        assert len(report) == 1, [r.get("check_type") for r in report]
        report = report[0]
    if "results" not in report:
        pytest.fail(f"checkov scanned nothing: {proc.stdout[-2000:]}")
    result: dict[str, Any] = report
    return result


def format_failures(report: dict[str, Any]) -> str:
    """A readable list of failed checks."""
    return "\n".join(
        f"{c['check_id']} {c['check_name']} -> {c['resource']} ({c['file_path']})"
        for c in report["results"]["failed_checks"]
    )


# The account and environment roots' fixtures (harness.py builds on the helpers above).
from .harness import account_moto, account_run, applied_envs, env_runs  # noqa: E402, F401
