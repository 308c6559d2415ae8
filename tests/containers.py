"""The container engine and the image built from a clean clone, for every test that runs
containers (tests/images, the rehearsal in tests/terraform). Registered in tests/conftest.py,
so a session builds the image once.

The image is built from a clean clone of the repository (committed files, plus the working
tree's uncommitted changes committed in the clone), so a file that only exists in a
developer's checkout (generated code, a virtualenv) cannot make the build pass. Without a
working engine the tests fail saying what to install; with ``COLONNADE_SKIP_CONTAINERS=1``
they skip with that reason instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from colonnade_tools.containers import ContainerError, Engine, find_engine
from colonnade_tools.image import BuiltImage, build_image

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def engine() -> Engine:
    try:
        return find_engine()
    except ContainerError as exc:
        if os.environ.get("COLONNADE_SKIP_CONTAINERS") == "1":
            pytest.skip(f"COLONNADE_SKIP_CONTAINERS=1: {exc}")
        pytest.fail(str(exc))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def clean_clone(target: Path) -> Path:
    """Clone the repository to ``target`` and commit the working tree's changes there."""
    subprocess.run(
        ["git", "clone", "--quiet", "--no-hardlinks", str(REPO_ROOT), str(target)], check=True
    )
    changed = _git(REPO_ROOT, "ls-files", "-m", "-o", "--exclude-standard", "-z").split("\0")
    for rel in filter(None, changed):
        source = REPO_ROOT / rel
        if source.is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / rel)
    for rel in filter(None, _git(REPO_ROOT, "ls-files", "-d", "-z").split("\0")):
        (target / rel).unlink(missing_ok=True)
    if _git(target, "status", "--porcelain"):
        _git(target, "add", "-A")
        _git(
            target,
            "-c",
            "user.name=colonnade-tests",
            "-c",
            "user.email=tests@colonnade.invalid",
            "commit",
            "--quiet",
            "-m",
            "working tree under test",
        )
    return target


@pytest.fixture(scope="session")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clean_clone(tmp_path_factory.mktemp("clone") / "colonnade")


@pytest.fixture(scope="session")
def image(engine: Engine, clone: Path) -> Iterator[BuiltImage]:
    """The image built from the clean clone, removed at the end of the session."""
    tag = f"colonnade-test:{uuid.uuid4().hex[:8]}"
    if engine.name == "podman":
        tag = f"localhost/{tag}"
    built = build_image(engine=engine, root=clone, tags=[tag])
    yield built
    engine.run("rmi", "--force", tag, check=False)
