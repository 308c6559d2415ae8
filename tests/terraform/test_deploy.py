"""scripts/deploy.py: argument handling, and plan/apply/output of a small root against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from colonnade.deploy.toolchain import Toolchain

from .conftest import REPO_ROOT, MotoServer

DEPLOY = REPO_ROOT / "scripts" / "deploy.py"

ROOT_TF = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.100" }
  }
}
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


def _deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEPLOY), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def test_missing_environment_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "main.tf").write_text("")
    proc = _deploy("nope", "plan", "--environments-dir", str(tmp_path))
    assert proc.returncode != 0
    assert "no environment 'nope'" in proc.stderr
    assert "known environments: dev" in proc.stderr


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    proc = _deploy("dev", "destroy", "--environments-dir", str(tmp_path))
    assert proc.returncode == 2 and "invalid choice: 'destroy'" in proc.stderr


def test_backend_config_needs_the_backend_and_a_valid_item(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "main.tf").write_text("")
    common = ("dev", "plan", "--environments-dir", str(tmp_path))
    proc = _deploy(*common, "--backend", "false", "--backend-config", "bucket=b")
    assert proc.returncode != 0 and "drop --backend false" in proc.stderr
    proc = _deploy(*common, "--backend-config", "no-such-file.hcl")
    assert proc.returncode != 0
    assert "no-such-file.hcl: neither KEY=VALUE nor an existing file" in proc.stderr


@pytest.mark.terraform
def test_backend_config_reaches_terraform_init(tmp_path: Path, toolchain: Toolchain) -> None:
    """--backend-config goes to init: a local backend's `path` decides where the state lands."""
    envs = tmp_path / "environments"
    root = envs / "sandbox"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(
        'terraform {\n  backend "local" {}\n}\n'
        'resource "terraform_data" "marker" {\n  input = "hello"\n}\n'
    )
    state = tmp_path / "elsewhere" / "sandbox.tfstate"
    state.parent.mkdir()
    env = dict(os.environ)
    env["TF_PLUGIN_CACHE_DIR"] = str(toolchain.plugin_cache_dir)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    proc = _deploy(
        "sandbox",
        "apply",
        "--yes",
        "--environments-dir",
        str(envs),
        "--backend-config",
        f"path={state}",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "Apply complete! Resources: 1 added" in proc.stdout
    assert '"terraform_data"' in state.read_text()  # the state went where init was told
    assert not (root / "terraform.tfstate").exists()


@pytest.mark.terraform
def test_plan_apply_output_against_moto(
    tmp_path: Path, toolchain: Toolchain, moto: MotoServer
) -> None:
    """The driver inits, plans with var files and pass-through args, applies, and reads outputs."""
    envs = tmp_path / "environments"
    root = envs / "sandbox"
    root.mkdir(parents=True)
    (root / "main.tf").write_text(ROOT_TF)
    (root / "terraform.tfvars").write_text('cidr = "10.9.0.0/16"\n')
    (root / "extra.tfvars").write_text('name = "from-var-file"\n')
    moto.write_override(root)
    env = dict(os.environ)
    env["TF_PLUGIN_CACHE_DIR"] = str(toolchain.plugin_cache_dir)
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    common = ["--environments-dir", str(envs), "--backend", "false"]

    plan = _deploy("sandbox", "plan", *common, "--var-file", "extra.tfvars", env=env)
    assert plan.returncode == 0, plan.stderr + plan.stdout
    assert "aws_vpc.this will be created" in plan.stdout

    refused = _deploy("sandbox", "apply", *common, "--var-file", "extra.tfvars", env=env)
    assert refused.returncode == 1 and "--yes" in refused.stderr

    apply_args = ("sandbox", "apply", *common, "--yes", "--var-file", "extra.tfvars")
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
