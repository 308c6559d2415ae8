"""scripts/deploy.py and the bootstrap runner (colonnade_tools.deploy.migrate).

The driver runs in a sandbox terraform/ tree shaped like the real one (live/, environments/),
against moto: argument handling, plan/apply/output with the environment's data, and the
two-phase apply with the database bootstrap task in between. The runner's wait loop is tested
against moto's RunTask/DescribeTasks (test_live.py, and the sandbox here) for the happy path and
against a small fake of boto3's ECS client for what moto never does (non-zero exits, tasks that
never stop, RunTask failures).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.deploy import layout
from colonnade_tools.deploy.migrate import MigrateTask, MigrationFailed, run_migration
from colonnade_tools.deploy.toolchain import Toolchain

from .conftest import REPO_ROOT, MotoServer

DEPLOY = REPO_ROOT / "scripts" / "deploy.py"

PROVIDER = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
}
"""

ROOT_TF = (
    PROVIDER
    + """
provider "aws" {
  region = "eu-west-1"
}
variable "cidr" {
  type = string
}
variable "name" {
  type = string
}
resource "aws_vpc" "this" {
  cidr_block = var.cidr
  tags       = { Name = var.name }
}
output "vpc_id" {
  value = aws_vpc.this.id
}
output "name" {
  value = aws_vpc.this.tags["Name"]
}
"""
)


def _deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _tree(tmp_path: Path, main_tf: str = "", tfvars: str = "") -> Path:
    """A terraform/ tree with a live root and one environment, `sandbox`."""
    tree = tmp_path / "terraform"
    (tree / "live").mkdir(parents=True)
    (tree / "live" / "main.tf").write_text(main_tf)
    (tree / "environments" / "sandbox").mkdir(parents=True)
    (tree / "environments" / "sandbox" / "terraform.tfvars").write_text(tfvars)
    return tree


def _apply_locally(
    tree: Path, state: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`deploy.py sandbox apply --yes` with its state in a local backend at `state`."""
    proc = _deploy(
        "sandbox",
        "apply",
        "--yes",
        "--skip-migration",
        "--terraform-dir",
        str(tree),
        "--backend-config",
        f"path={state}",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def _env(toolchain: Toolchain, tmp_path: Path, moto: MotoServer | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["TF_PLUGIN_CACHE_DIR"] = str(toolchain.plugin_cache_dir)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if moto is not None:
        # boto3 in deploy.py (the bootstrap runner) talks to the same moto server.
        env.update(
            AWS_ENDPOINT_URL=moto.url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="eu-west-1",
        )
    return env


################################################################################
# Arguments and layout
################################################################################


def test_missing_environment_is_a_clear_error(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    proc = _deploy("nope", "plan", "--terraform-dir", str(tree))
    assert proc.returncode != 0
    assert "no environment 'nope'" in proc.stderr
    assert "known: sandbox, account" in proc.stderr


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    proc = _deploy("dev", "destroy", "--terraform-dir", str(tmp_path))
    assert proc.returncode == 2 and "invalid choice: 'destroy'" in proc.stderr


def test_bootstrap_is_for_the_account_only(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    proc = _deploy("sandbox", "bootstrap", "--terraform-dir", str(tree))
    assert proc.returncode != 0 and "run it for 'account'" in proc.stderr


def test_backend_config_needs_the_backend_and_a_valid_item(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    common = ("sandbox", "plan", "--terraform-dir", str(tree))
    proc = _deploy(*common, "--backend", "false", "--backend-config", "bucket=b")
    assert proc.returncode != 0 and "drop --backend false" in proc.stderr
    proc = _deploy(*common, "--backend-config", "no-such-file.hcl")
    assert proc.returncode != 0
    assert "no-such-file.hcl: neither KEY=VALUE nor an existing file" in proc.stderr


def test_layout_of_the_repository() -> None:
    """Each environment runs the live root with its own data; the account has its own root."""
    envs = layout.environment_names()
    assert envs == ["dev", "prod", "staging"]
    for env in envs:
        target = layout.target(env)
        assert target.root == layout.TERRAFORM_DIR / "live"
        assert target.var_files() == [
            layout.TERRAFORM_DIR / "environments" / env / "terraform.tfvars",
            layout.TERRAFORM_DIR / "environments" / env / "images.auto.tfvars.json",
        ]
        assert target.backend_config.is_file()
        assert (
            layout.image_file(env)
            == layout.TERRAFORM_DIR / "environments" / env / "images.auto.tfvars.json"
        )
    account = layout.target("account")
    assert account.root == account.data_dir == layout.TERRAFORM_DIR / "account"
    assert account.var_files() == []  # terraform.tfvars in the root: Terraform loads it
    assert (
        layout.state_bucket_name("123456789012", "eu-west-1")
        == "colonnade-tfstate-123456789012-eu-west-1"
    )


def test_the_lambda_zip_is_passed_once_built(tmp_path: Path) -> None:
    """An environment's plan gets `-var lambda_package=` (relative to the root) only when
    `make lambda` has built the zip; the account root never."""
    tree = _tree(tmp_path)
    (tree / "account").mkdir()
    (tree / "account" / "terraform.tfvars").write_text("")
    target = layout.target("sandbox", tree)
    assert target.lambda_package == tmp_path / "build" / "lambda" / layout.LAMBDA_PACKAGE
    assert layout.LAMBDA_PACKAGE == "colonnade-lambda-py3.11-x86_64.zip"
    assert target.variables() == {}
    target.lambda_package.parent.mkdir(parents=True)
    target.lambda_package.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    assert target.variables() == {
        "lambda_package": "../../build/lambda/colonnade-lambda-py3.11-x86_64.zip"
    }
    assert layout.target("account", tree).variables() == {}


################################################################################
# Against moto
################################################################################


@pytest.mark.terraform
def test_backend_config_reaches_terraform_init(tmp_path: Path, toolchain: Toolchain) -> None:
    """--backend-config goes to init: a local backend's `path` decides where the state lands."""
    tree = _tree(
        tmp_path,
        'terraform {\n  backend "local" {}\n}\n'
        'resource "terraform_data" "marker" {\n  input = "hello"\n}\n',
    )
    state = tmp_path / "elsewhere" / "sandbox.tfstate"
    state.parent.mkdir()
    proc = _apply_locally(tree, state, _env(toolchain, tmp_path))
    assert "Apply complete! Resources: 1 added" in proc.stdout
    assert '"terraform_data"' in state.read_text()  # the state went where init was told
    assert not (tree / "live" / "terraform.tfstate").exists()


@pytest.mark.terraform
def test_deploy_passes_the_lambda_zip(tmp_path: Path, toolchain: Toolchain) -> None:
    """Without the zip the plan says the authorizer is left out; once built, the root
    receives its path and can read it (as the authorizer module hashes it)."""
    tree = _tree(
        tmp_path,
        'terraform {\n  backend "local" {}\n}\n'
        'variable "lambda_package" {\n  type    = string\n  default = null\n}\n'
        'resource "terraform_data" "package" {\n'
        "  input = var.lambda_package == null ? null : "
        "{ path = var.lambda_package, hash = filebase64sha256(var.lambda_package) }\n}\n",
    )
    state = tmp_path / "sandbox.tfstate"
    proc = _apply_locally(tree, state, _env(toolchain, tmp_path))
    assert "planning sandbox without the API Gateway authorizer" in proc.stderr
    assert "make lambda" in proc.stderr
    zip_path = tmp_path / "build" / "lambda" / layout.LAMBDA_PACKAGE
    zip_path.parent.mkdir(parents=True)
    zip_path.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    proc = _apply_locally(tree, state, _env(toolchain, tmp_path))
    assert "without the API Gateway authorizer" not in proc.stderr
    (resource,) = json.loads(state.read_text())["resources"]
    value = resource["instances"][0]["attributes"]["input"]["value"]
    assert value["path"] == "../../build/lambda/colonnade-lambda-py3.11-x86_64.zip"
    assert len(value["hash"]) == 44  # base64 of a SHA-256: the root read the file


@pytest.mark.terraform
def test_plan_apply_output_against_moto(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer
) -> None:
    """The driver inits, plans with the environment's data, extra var files and pass-through
    args, applies, and reads outputs."""
    tree = _tree(tmp_path, ROOT_TF, 'cidr = "10.9.0.0/16"\n')
    (tree / "live" / "extra.tfvars").write_text('name = "from-var-file"\n')
    moto.write_override(tree / "live")
    env = _env(toolchain, tmp_path)
    common = ["--terraform-dir", str(tree), "--backend", "false"]

    plan = _deploy("sandbox", "plan", *common, "--var-file", "extra.tfvars", env=env)
    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert "aws_vpc.this will be created" in plan.stdout

    refused = _deploy("sandbox", "apply", *common, "--var-file", "extra.tfvars", env=env)
    assert refused.returncode == 1 and "--yes" in refused.stderr

    apply_args = (
        "sandbox",
        "apply",
        *common,
        "--yes",
        "--skip-migration",
        "--var-file",
        "extra.tfvars",
    )
    apply = _deploy(*apply_args, "--", "-var=name=from-extra-args", env=env)
    assert apply.returncode == 0, apply.stderr + apply.stdout
    assert "Apply complete! Resources: 1 added" in apply.stdout

    out = _deploy("sandbox", "output", *common, env=env)
    assert out.returncode == 0, out.stderr
    outputs = json.loads(out.stdout)
    assert outputs["vpc_id"]["value"].startswith("vpc-")
    assert outputs["name"]["value"] == "from-extra-args"  # -var after -- wins over the var file

    again = _deploy(*apply_args, "--", "-var=name=from-extra-args", env=env)
    assert again.returncode == 0 and "no changes to apply" in again.stderr, again.stdout


#: A live root shaped like the real one where it matters to deploy.py: module.platform holds
#: module.migrate (a task definition and its security group) and module.ecs_cluster (phase-1
#: targets), module.aurora (a dependency of the task), and outputs migrate_task; a "service"
#: outside them waits for phase 2.
PLATFORM_TF = """
variable "container_name" {
  type = string
}
module "ecs_cluster" {
  source = "./cluster"
}
module "aurora" {
  source = "./db"
  vpc_id = module.ecs_cluster.vpc_id
}
module "migrate" {
  source         = "./task"
  container_name = var.container_name
  vpc_id         = module.ecs_cluster.vpc_id
  # The task needs the database's address, as the real one does.
  database_sg = module.aurora.sg_id
}
output "migrate_task" {
  value = {
    cluster             = module.ecs_cluster.arn
    task_definition_arn = module.migrate.arn
    container_name      = "migrate"
    subnets             = [module.ecs_cluster.subnet_id]
    security_groups     = [module.migrate.sg_id]
    log_group           = "/sandbox/migrate"
    log_stream_prefix   = "migrate"
  }
}
"""
CLUSTER_TF = """
resource "aws_vpc" "this" {
  cidr_block           = "10.8.0.0/16"
  enable_dns_support   = true
  enable_dns_hostnames = true
}
resource "aws_subnet" "this" {
  vpc_id     = aws_vpc.this.id
  cidr_block = "10.8.1.0/24"
}
resource "aws_ecs_cluster" "this" {
  name = "sandbox"
}
output "arn" {
  value = aws_ecs_cluster.this.arn
}
output "vpc_id" {
  value = aws_vpc.this.id
}
output "subnet_id" {
  value = aws_subnet.this.id
}
"""
DB_TF = """
variable "vpc_id" {
  type = string
}
resource "aws_security_group" "this" {
  name   = "sandbox-db"
  vpc_id = var.vpc_id
}
output "sg_id" {
  value = aws_security_group.this.id
}
"""
TASK_TF = """
variable "container_name" {
  type = string
}
variable "vpc_id" {
  type = string
}
variable "database_sg" {
  type = string
}
resource "aws_security_group" "this" {
  name        = "sandbox-migrate"
  description = "reaches ${var.database_sg}"
  vpc_id      = var.vpc_id
}
output "sg_id" {
  value = aws_security_group.this.id
}
resource "aws_ecs_task_definition" "this" {
  family                   = "sandbox-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([{
    name      = var.container_name
    image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/colonnade:0.1.0"
    command   = ["colonnade-migrate"]
    essential = true
  }])
}
output "arn" {
  value = aws_ecs_task_definition.this.arn
}
"""
LIVE_TF = (
    PROVIDER
    + """
provider "aws" {
  region = "eu-west-1"
}
variable "container_name" {
  type = string
}
module "platform" {
  source         = "./platform"
  container_name = var.container_name
}
# Stands for the services: applied in phase 2 only, after the bootstrap ran.
resource "aws_ecs_cluster" "services" {
  name = "sandbox-services"
}
output "migrate_task" {
  value = module.platform.migrate_task
}
"""
)


def _two_phase_tree(tmp_path: Path, moto: MotoServer, container_name: str) -> Path:
    tree = _tree(tmp_path, LIVE_TF, f'container_name = "{container_name}"\n')
    live = tree / "live"
    for rel, text in (
        ("platform/main.tf", PLATFORM_TF),
        ("platform/cluster/main.tf", CLUSTER_TF),
        ("platform/db/main.tf", DB_TF),
        ("platform/task/main.tf", TASK_TF),
    ):
        (live / rel).parent.mkdir(parents=True, exist_ok=True)
        (live / rel).write_text(text)
    moto.write_override(live)
    return tree


def _two_phase_apply(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer, container_name: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The sandbox tree, and `deploy.py sandbox apply --yes` run in it against moto."""
    tree = _two_phase_tree(tmp_path, moto, container_name)
    common = ("--terraform-dir", str(tree), "--backend", "false")
    return tree, _deploy("sandbox", "apply", "--yes", *common, env=_env(toolchain, tmp_path, moto))


def _state_addresses(tree: Path, toolchain: Toolchain) -> set[str]:
    shown = subprocess.run(
        [toolchain.terraform, "show", "-json"],
        cwd=tree / "live",
        env=toolchain.env(),
        capture_output=True,
        text=True,
        check=True,
    )
    values = json.loads(shown.stdout).get("values", {})
    found: set[str] = set()

    def walk(module: dict[str, Any]) -> None:
        found.update(r["address"] for r in module.get("resources", []))
        for child in module.get("child_modules", []):
            walk(child)

    walk(values.get("root_module", {}))
    return found


@pytest.mark.terraform
def test_apply_runs_the_bootstrap_between_the_two_phases(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer
) -> None:
    """Phase 1 registers the task definition (and nothing of the services), the bootstrap
    task runs on moto's ECS and exits 0, then phase 2 rolls the rest."""
    tree, proc = _two_phase_apply(tmp_path, toolchain, moto, "migrate")
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    err = proc.stderr
    started = err.index("deploy.py: migrate: task ")
    assert err.index("deploy.py: migrate: exited 0") > started
    applies = [
        i for i, line in enumerate(proc.stdout.splitlines()) if line.startswith("Apply complete!")
    ]
    assert len(applies) == 2, proc.stdout
    first, second = proc.stdout.split("Apply complete!")[:2]
    assert "module.platform.module.migrate.aws_ecs_task_definition.this: Creation complete" in first
    assert "aws_ecs_cluster.services" not in first
    assert "aws_ecs_cluster.services: Creation complete" in second
    assert "aws_ecs_cluster.services" in _state_addresses(tree, toolchain)


@pytest.mark.terraform
def test_a_failed_bootstrap_stops_the_rollout(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer
) -> None:
    """The task definition's container is not the one the output names, so the stopped task
    reports no exit code for it: deploy.py fails and never applies phase 2."""
    tree, proc = _two_phase_apply(tmp_path, toolchain, moto, "not-migrate")
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "the migrate task failed: no exit code" in proc.stderr
    assert "the services were not rolled" in proc.stderr
    assert proc.stdout.count("Apply complete!") == 1
    assert "aws_ecs_cluster.services" not in _state_addresses(tree, toolchain)


################################################################################
# The wait loop, with a fake of boto3's ECS client (polling logic only)
################################################################################

TASK = MigrateTask(
    cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/colonnade-dev",
    task_definition_arn="arn:aws:ecs:eu-west-1:123456789012:task-definition/colonnade-dev-migrate:7",
    container_name="migrate",
    subnets=("subnet-a", "subnet-b"),
    security_groups=("sg-migrate",),
    log_group="/colonnade-dev/migrate",
    log_stream_prefix="migrate",
)
TASK_ARN = "arn:aws:ecs:eu-west-1:123456789012:task/colonnade-dev/0123abcd"


class FakeEcs:
    """Answers RunTask, then DescribeTasks from a script of task states; records calls."""

    def __init__(self, states: list[dict[str, Any]], run: dict[str, Any] | None = None) -> None:
        self.states = states
        self.run = run if run is not None else {"tasks": [{"taskArn": TASK_ARN}], "failures": []}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def run_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("run_task", kwargs))
        return self.run

    def describe_tasks(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("describe_tasks", kwargs))
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"tasks": [{"taskArn": TASK_ARN, **state}], "failures": []}

    def stop_task(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("stop_task", kwargs))
        return {}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _stopped(exit_code: int | None, **extra: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "migrate", "lastStatus": "STOPPED"}
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {"lastStatus": "STOPPED", "containers": [container], **extra}


def _run(ecs: FakeEcs, timeout: float = 600) -> tuple[list[str], Any]:
    lines: list[str] = []
    clock = FakeClock()
    try:
        result: Any = run_migration(
            ecs, TASK, timeout=timeout, poll=5, log=lines.append, clock=clock, sleep=clock.sleep
        )
    except MigrationFailed as exc:
        result = exc
    return lines, result


def test_success_logs_each_status_once_and_runs_on_fargate_in_the_private_subnets() -> None:
    ecs = FakeEcs(
        [{"lastStatus": s} for s in ("PROVISIONING", "PENDING", "PENDING", "RUNNING")]
        + [_stopped(0)]
    )
    lines, outcome = _run(ecs)
    assert outcome.exit_code == 0 and outcome.log_stream == "migrate/migrate/0123abcd"
    assert lines[1:] == [
        "migrate: PROVISIONING",
        "migrate: PENDING",
        "migrate: RUNNING",
        "migrate: STOPPED",
        "migrate: exited 0",
    ]
    (name, run), *_ = ecs.calls
    assert name == "run_task" and run["launchType"] == "FARGATE" and run["count"] == 1
    assert run["taskDefinition"] == TASK.task_definition_arn
    assert run["networkConfiguration"]["awsvpcConfiguration"] == {
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-migrate"],
        "assignPublicIp": "DISABLED",
    }


def test_a_non_zero_exit_fails_with_the_reason_and_where_the_logs_are() -> None:
    ecs = FakeEcs(
        [{"lastStatus": "RUNNING"}, _stopped(1, stoppedReason="Essential container in task exited")]
    )
    _, failure = _run(ecs)
    assert isinstance(failure, MigrationFailed)
    assert "Essential container in task exited; exit code 1" in str(failure)
    assert "/colonnade-dev/migrate migrate/migrate/0123abcd" in str(failure)


def test_a_task_that_never_ran_fails_with_the_stop_reason() -> None:
    ecs = FakeEcs(
        [
            {
                "lastStatus": "STOPPED",
                "stoppedReason": "CannotPullContainerError: ref not found",
                "containers": [{"name": "migrate", "reason": "CannotPullContainerError"}],
            }
        ]
    )
    _, failure = _run(ecs)
    assert isinstance(failure, MigrationFailed)
    assert "CannotPullContainerError: ref not found; CannotPullContainerError; no exit code" in str(
        failure
    )


def test_a_task_that_does_not_stop_in_time_is_stopped() -> None:
    ecs = FakeEcs([{"lastStatus": "RUNNING"}])
    _, failure = _run(ecs, timeout=60)
    assert isinstance(failure, MigrationFailed) and "did not finish within 60 s" in str(failure)
    assert ecs.calls[-1][0] == "stop_task" and ecs.calls[-1][1]["task"] == TASK_ARN
    polls = [c for c in ecs.calls if c[0] == "describe_tasks"]
    assert len(polls) == 60 // 5 + 1


def test_run_task_placing_nothing_fails_with_its_reason() -> None:
    ecs = FakeEcs(
        [],
        run={
            "tasks": [],
            "failures": [{"arn": TASK.cluster, "reason": "MISSING", "detail": "subnet"}],
        },
    )
    _, failure = _run(ecs)
    assert isinstance(failure, MigrationFailed) and "MISSING subnet" in str(failure)
    assert [c[0] for c in ecs.calls] == ["run_task"]


def test_output_without_a_field_is_refused() -> None:
    with pytest.raises(MigrationFailed, match="lacks 'subnets'"):
        MigrateTask.from_output({"cluster": "c", "task_definition_arn": "t", "container_name": "m"})
    assert TASK.region == "eu-west-1"


@pytest.mark.terraform
@pytest.mark.slow
def test_account_bootstrap_moves_its_state_into_the_bucket_it_creates(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer
) -> None:
    """`deploy.py account bootstrap`: the state bucket is created with local state, then the
    account root's state is migrated into it (S3 backend on moto); a plan afterwards reads it."""
    from .conftest import copy_tree

    tree = copy_tree(tmp_path / "repo")
    account = tree / "account"
    moto.write_override(account)  # providers only: the root keeps its S3 backend
    (tmp_path / "moto-backend.hcl").write_text(
        f'endpoints = {{ s3 = "{moto.url}", sts = "{moto.url}" }}\n'
        "use_path_style              = true\n"
        "skip_credentials_validation = true\n"
        "skip_requesting_account_id  = true\n"
        "skip_metadata_api_check     = true\n"
    )
    env = _env(toolchain, tmp_path, moto)
    common = ("--terraform-dir", str(tree), "--backend-config", str(tmp_path / "moto-backend.hcl"))
    proc = _deploy("account", "bootstrap", "--yes", *common, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-4000:]
    assert "module.state.aws_s3_bucket.state: Creation complete" in proc.stdout
    assert not list(account.glob("zz_bootstrap*")), "the local backend override is removed"

    import boto3

    s3 = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=moto.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = layout.state_bucket_name("123456789012", "eu-west-1")
    state = json.loads(s3.get_object(Bucket=bucket, Key="account/terraform.tfstate")["Body"].read())
    assert any(r["type"] == "aws_s3_bucket" for r in state["resources"])

    plan = _deploy("account", "plan", *common, env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert "module.state.aws_s3_bucket.state" not in plan.stdout.split("Terraform will perform")[-1]
