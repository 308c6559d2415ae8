"""Every module and root: formatting, validation, native `terraform test`, checkov source scan,
and a README that documents each input and output.

One harness for the whole tree: the module list is read from terraform/modules, so a new module
is covered the day it is added.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from colonnade_tools.deploy import layout
from colonnade_tools.deploy.toolchain import Toolchain

from .conftest import (
    EXAMPLES,
    MODULES,
    MODULES_ROOT,
    TERRAFORM_ROOT,
    Workdir,
    format_failures,
    run_checkov,
)

pytestmark = pytest.mark.terraform

ROOTS = (layout.LIVE_ROOT, layout.ACCOUNT_ROOT)

#: Modules that manage resources (container-definition only renders data: nothing to scan).
RESOURCE_MODULES = tuple(
    m
    for m in MODULES
    if any('resource "' in p.read_text() for p in (MODULES_ROOT / m).glob("*.tf"))
)


def test_fmt(toolchain: Toolchain) -> None:
    """`terraform fmt -check` over the whole tree (read-only on the source)."""
    proc = Workdir(TERRAFORM_ROOT, toolchain).run(
        "fmt", "-check", "-recursive", "-diff", "-no-color", ok=(0, 3)
    )
    assert proc.returncode == 0, f"run `terraform fmt -recursive terraform`:\n{proc.stdout}"


@pytest.mark.parametrize(
    "root",
    [
        *(f"modules/{m}" for m in MODULES),
        *(f"modules/{e.split('/')[0]}/examples/{e.split('/')[1]}" for e in EXAMPLES),
        *ROOTS,
    ],
)
def test_validate(root: str, initialised: Any) -> None:
    """`init -backend=false` and `validate` for each module, example and root."""
    proc = initialised(root).run("validate", "-no-color")
    assert "Success" in proc.stdout


@pytest.mark.parametrize("module", MODULES)
def test_native_terraform_tests(module: str, initialised: Any) -> None:
    """The module's `tests/*.tftest.hcl` (mock_provider "aws", no credentials, no network)."""
    assert list((MODULES_ROOT / module / "tests").glob("*.tftest.hcl")), f"{module} has no tests"
    proc = initialised(f"modules/{module}").run("test", "-no-color", timeout=600)
    tail = proc.stdout.strip().splitlines()[-1]
    assert "0 failed" in tail and "passed" in tail, proc.stdout


def test_only_the_rendering_module_has_no_resources() -> None:
    """The checkov scan below covers every module that manages anything."""
    assert set(MODULES) - set(RESOURCE_MODULES) == {"container-definition"}


@pytest.mark.parametrize("module", RESOURCE_MODULES)
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
    assert summary["passed"] >= 1, summary
    assert summary["failed"] == 0, format_failures(report)
    for skipped in report["results"].get("skipped_checks", []):
        comment = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(comment) > 20, (
            f"skip without a reason: {skipped['check_id']} on {skipped['resource']}"
        )


def _declared(path: Path, kind: str) -> list[str]:
    return re.findall(rf'^{kind} "([^"]+)"', path.read_text(), re.M) if path.is_file() else []


@pytest.mark.parametrize("module", MODULES)
def test_module_documents_every_input_and_output(module: str) -> None:
    """The README's input and output tables list exactly the module's variables and outputs,
    and every variable has a type and a description."""
    readme = (MODULES_ROOT / module / "README.md").read_text()
    for kind, file in (("variable", "variables.tf"), ("output", "outputs.tf")):
        names = _declared(MODULES_ROOT / module / file, kind)
        assert names, f"{module}/{file} declares no {kind}"
        missing = [n for n in names if f"`{n}`" not in readme]
        assert not missing, f"{module}/README.md does not document {kind}s {missing}"
        heading = "## Inputs" if kind == "variable" else "## Outputs"
        assert heading in readme, f"{module}/README.md has no {heading} table"
        table = readme.split(heading, 1)[1].split("\n## ", 1)[0]
        listed = re.findall(r"^\|\s*`([^`]+)`", table, re.M)
        # named in prose is not enough: each one has its row in the table
        unlisted = [n for n in names if n not in listed]
        assert not unlisted, f"{module}/README.md's {heading} table lacks {unlisted}"
        stale = sorted(set(listed) - set(names))
        assert not stale, f"{module}/README.md documents {kind}s that no longer exist: {stale}"
    for text in (MODULES_ROOT / module / "variables.tf").read_text().split('variable "')[1:]:
        block = text.split("\n}\n")[0]
        assert "description" in block and "type" in block, (
            f"{module}: {block[:60]} lacks type/description"
        )


@pytest.mark.parametrize("root", ROOTS)
def test_root_lock_file_is_committed(root: str) -> None:
    """The roots pin hashicorp/aws with a committed lock file (modules do not: their callers do)."""
    lock = TERRAFORM_ROOT / root / ".terraform.lock.hcl"
    assert lock.is_file(), f"commit terraform/{root}/.terraform.lock.hcl (terraform init there)"
    text = lock.read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in text
    assert re.search(r'version\s*=\s*"5\.100\.\d+"', text), text[:400]
    # The provider package's checksum (h1:, from the mirror's linux_amd64 package): init refuses
    # a package that does not match it. A lock without hashes would accept any.
    assert re.search(r'hashes\s*=\s*\[\s*"h1:[A-Za-z0-9+/]{43}="', text), text[:400]
