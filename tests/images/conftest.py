"""Fixtures for the container image tests: containers run the way ECS runs them.

The engine, the clean clone and the image built from it are in tests/containers.py (shared
with the rehearsal).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from subprocess import CompletedProcess

import pytest

from colonnade_tools.containers import Engine

pytestmark = pytest.mark.containers


@dataclass
class Container:
    """A running container (``podman``/``docker`` run -d) that the test owns."""

    engine: Engine
    name: str

    def exec(self, *args: str, timeout: float = 60) -> CompletedProcess[str]:
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
