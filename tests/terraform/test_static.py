"""Formatting, validation, native `terraform test` and the checkov source scan of each module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from colonnade.deploy.toolchain import Toolchain

from .conftest import (
    EXAMPLES,
    MODULES,
    MODULES_ROOT,
    Workdir,
    format_failures,
    run_checkov,
)

pytestmark = pytest.mark.terraform


@pytest.mark.parametrize("module", MODULES)
def test_fmt(module: str, toolchain: Toolchain) -> None:
    """`terraform fmt -check` over the module, its examples and tests (read-only on the source)."""
    proc = Workdir(MODULES_ROOT / module, toolchain).run(
        "fmt", "-check", "-recursive", "-diff", "-no-color", ok=(0, 3)
    )
    assert proc.returncode == 0, (
        f"run `terraform fmt -recursive terraform/modules/{module}`:\n{proc.stdout}"
    )


@pytest.mark.parametrize(
    "root", [*MODULES, *(f"{e.split('/')[0]}/examples/{e.split('/')[1]}" for e in EXAMPLES)]
)
def test_validate(root: str, initialised: Any) -> None:
    """`init -backend=false` and `validate` for each module and each example."""
    proc = initialised(root).run("validate", "-no-color")
    assert "Success" in proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_native_terraform_tests(module: str, initialised: Any) -> None:
    """The module's `tests/*.tftest.hcl` (mock_provider "aws", no credentials, no network)."""
    assert list((MODULES_ROOT / module / "tests").glob("*.tftest.hcl")), f"{module} has no tests"
    proc = initialised(module).run("test", "-no-color", timeout=600)
    tail = proc.stdout.strip().splitlines()[-1]
    assert "0 failed" in tail and "passed" in tail, proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_checkov_source(module: str, tmp_path: Path) -> None:
    """checkov over the module's source and its examples: zero failed checks, skips only inline."""
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
    assert summary["passed"] > 10, summary
    assert summary["failed"] == 0, format_failures(report)
    for skipped in report["results"].get("skipped_checks", []):
        comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment) > 20, (
            f"skip without a reason: {skipped['check_id']} on {skipped['resource']}"
        )
