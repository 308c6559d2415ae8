"""The conventions are enforced where a contributor and CI meet them: the checks `make lint`
runs are the pre-commit hooks' and CI runs them before the tests."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _recipe(target: str) -> list[str]:
    """The command lines of one Makefile target."""
    text = (REPO / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert match, f"no {target} target in the Makefile"
    return [line.strip() for line in match[1].splitlines()]


def test_ci_runs_lint_then_the_tests() -> None:
    assert (REPO / ".ci" / "run").read_text().rstrip().endswith("exec make check")
    assert _recipe("check") == ["$(MAKE) lint", "$(MAKE) test"]
    lint_line = next(
        line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("lint:")
    )
    assert lint_line.split(":")[1].split("##")[0].split() == ["gen"]  # mypy reads the stubs


def test_pre_commit_hooks_run_what_make_lint_runs() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]  # nothing fetched
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]
    for command in _recipe("lint"):
        tool = command.removeprefix("$(PY) ").split(" services")[0]  # e.g. "-m ruff check"
        assert any(entry.startswith(f".venv/bin/python {tool}") for entry in entries), (
            f"no pre-commit hook runs `{command}`"
        )
