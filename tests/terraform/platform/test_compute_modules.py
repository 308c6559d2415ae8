"""fmt, validate, native `terraform test` and checkov source scans of the compute/edge modules."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from colonnade.deploy.toolchain import Toolchain

from ..conftest import MODULES_ROOT, TERRAFORM_ROOT, Workdir, format_failures, run_checkov
from .harness import ENVIRONMENTS, PLATFORM_MODULES

pytestmark = pytest.mark.terraform


@pytest.mark.parametrize(
    "path",
    [*(f"modules/{m}" for m in PLATFORM_MODULES), "environments", "bootstrap"],
)
def test_fmt(path: str, toolchain: Toolchain) -> None:
    """`terraform fmt -check` (read-only on the source tree)."""
    proc = Workdir(TERRAFORM_ROOT / path, toolchain).run(
        "fmt", "-check", "-recursive", "-diff", "-no-color", ok=(0, 3)
    )
    assert proc.returncode == 0, f"run `terraform fmt -recursive terraform/{path}`:\n{proc.stdout}"


@pytest.mark.parametrize("module", PLATFORM_MODULES)
def test_validate(module: str, initialised: Any) -> None:
    """`init -backend=false` and `validate` of each module."""
    proc = initialised(module).run("validate", "-no-color")
    assert "Success" in proc.stdout


@pytest.mark.parametrize("module", PLATFORM_MODULES)
def test_native_terraform_tests(module: str, initialised: Any) -> None:
    """The module's `tests/*.tftest.hcl` (mock_provider "aws", no credentials, no network)."""
    assert list((MODULES_ROOT / module / "tests").glob("*.tftest.hcl")), f"{module} has no tests"
    proc = initialised(module).run("test", "-no-color", timeout=600)
    tail = proc.stdout.strip().splitlines()[-1]
    assert "0 failed" in tail and "passed" in tail, proc.stdout


@pytest.mark.parametrize("module", PLATFORM_MODULES)
def test_module_documents_every_input_and_output(module: str) -> None:
    """README lists every variable and output; every variable has a type and a description."""
    readme = (MODULES_ROOT / module / "README.md").read_text()
    for kind, file in (("variable", "variables.tf"), ("output", "outputs.tf")):
        names = re.findall(rf'^{kind} "([^"]+)"', (MODULES_ROOT / module / file).read_text(), re.M)
        assert names, f"{module}/{file} declares no {kind}"
        missing = [n for n in names if f"`{n}`" not in readme]
        assert not missing, f"{module}/README.md does not document {kind}s {missing}"
    for text in (MODULES_ROOT / module / "variables.tf").read_text().split('variable "')[1:]:
        block = text.split("\n}\n")[0]
        assert "description" in block and "type" in block, (
            f"{module}: {block[:60]} lacks type/description"
        )


@pytest.mark.parametrize("module", PLATFORM_MODULES)
def test_checkov_source(module: str, tmp_path: Path) -> None:
    """checkov over the module's source: zero failed checks, every skip inline with a reason."""
    report = run_checkov(
        [
            "-d",
            str(MODULES_ROOT / module),
            "--framework",
            "terraform",
            "--download-external-modules",
            "false",
        ],
        cwd=tmp_path,
    )
    summary = report["summary"]
    assert summary["passed"] >= 4, summary
    assert summary["failed"] == 0, format_failures(report)
    for skipped in report["results"].get("skipped_checks", []):
        comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment) > 20, (
            f"skip without a reason: {skipped['check_id']} on {skipped['resource']}"
        )


def test_bootstrap_root_validates(toolchain: Toolchain, tmp_path: Path) -> None:
    """The one-off state bootstrap root initialises and validates."""
    shutil.copytree(
        TERRAFORM_ROOT / "modules" / "state-bootstrap", tmp_path / "modules" / "state-bootstrap"
    )
    shutil.copytree(TERRAFORM_ROOT / "bootstrap", tmp_path / "bootstrap")
    wd = Workdir(tmp_path / "bootstrap", toolchain)
    wd.init()
    assert "Success" in wd.run("validate", "-no-color").stdout


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_readme_names_the_supported_commands(env: str) -> None:
    """Each environment's README gives the exact commands, deploy.py first."""
    text = (TERRAFORM_ROOT / "environments" / env / "README.md").read_text()
    assert f"scripts/deploy.py {env} plan" in text and f"scripts/deploy.py {env} apply" in text
    assert "terraform init" in text and "set_image_tags.py" in text
