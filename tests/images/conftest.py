"""Fixtures for the container image tests: the engine, a clean clone, the image built from it.

The image is built once per session from a clean clone of the repository (committed files,
plus the working tree's uncommitted changes committed in the clone), so a file that only
exists in a developer's checkout (generated code, a virtualenv) cannot make the build pass.
Without a working engine the tests fail saying what to install; with
``COLONNADE_SKIP_CONTAINERS=1`` they skip with that reason instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from colonnade_tools.containers import ContainerError, Engine, find_engine
from colonnade_tools.image import BuiltImage, build_image

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.containers


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


@dataclass
class Container:
    """A running container (``podman``/``docker`` run -d) that the test owns."""

    engine: Engine
    name: str

    def exec(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.engine.run("exec", self.name, *args, check=False, timeout=timeout)

    def logs(self) -> str:
        proc = self.engine.run("logs", self.name, check=False)
        return (proc.stdout or "") + (proc.stderr or "")

    def running(self) -> bool:
        proc = self.engine.run("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return proc.stdout.strip() == "true"

    def wait_healthy(self, *command: str, timeout: float = 60) -> None:
        """Run ``command`` in the container until it exits 0 (or fail with its logs)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.logs()[-4000:]}")
            proc = self.exec(*command)
            if proc.returncode == 0:
                return
            last = (proc.stdout or "") + (proc.stderr or "")
            time.sleep(0.5)
        raise AssertionError(
            f"{' '.join(command)} never succeeded in {self.name}: {last}\n{self.logs()[-4000:]}"
        )

    def remove(self) -> None:
        self.engine.run("rm", "--force", "--time", "2", self.name, check=False)


@pytest.fixture
def run_container(engine: Engine) -> Iterator[object]:
    """Start containers the way ECS runs them: read-only root, /tmp writable, host network."""
    started: list[Container] = []

    def start(image: str, *command: str, env: dict[str, str] | None = None) -> Container:
        name = f"colonnade-test-{uuid.uuid4().hex[:8]}"
        args = [
            "run",
            "--detach",
            "--name",
            name,
            "--read-only",
            "--tmpfs",
            "/tmp:rw,size=64m,mode=1777",
            "--network",
            "host",
            "--cap-drop",
            "ALL",
            *engine.limit_args,
            *(arg for k, v in (env or {}).items() for arg in ("--env", f"{k}={v}")),
            image,
            *command,
        ]
        engine.run(*args)
        container = Container(engine, name)
        started.append(container)
        return container

    yield start
    for container in started:
        container.remove()
