"""The container engine: docker or podman, whichever works on this machine.

``CONTAINER_ENGINE=docker|podman`` chooses explicitly. Otherwise an engine counts as
working when ``<engine> info`` answers: a docker client without a daemon does not.

Podman needs two adjustments on some hosts, both detected rather than configured:

* On a cgroup v1/v2 *hybrid* host crun refuses to start containers ("cgroups in hybrid
  mode not supported"); runc works, so podman is told ``--runtime runc`` there.
* Podman asks for rlimits above the caller's hard limits (``nofile`` 1048576), which an
  unprivileged or confined host refuses ("error setting rlimit … operation not
  permitted"). Containers get ``nofile`` and ``nproc`` capped at what this process may
  set (``CONTAINER_ULIMITS="nofile=1024:1024 nproc=1024:1024"`` overrides).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "no working container engine: install podman and runc (Debian: `apt-get install podman "
    "buildah runc`) or Docker with a running daemon, or set CONTAINER_ENGINE to one that works"
)


class ContainerError(RuntimeError):
    """A container command failed; the message carries its output."""


@dataclass(frozen=True)
class Engine:
    """How to call the engine: the program, global options and options for `run`/`build`."""

    name: str
    program: str
    global_args: tuple[str, ...] = ()
    limit_args: tuple[str, ...] = ()

    def command(self, *args: str) -> list[str]:
        """The full command line for ``<engine> <args>``, global options included."""
        return [self.program, *self.global_args, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 600, quiet: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run ``<engine> <args>``; raise :class:`ContainerError` with its output on failure."""
        proc = subprocess.run(
            self.command(*args),
            capture_output=quiet,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            output = (proc.stderr or "") + (proc.stdout or "")
            raise ContainerError(
                f"{self.name} {' '.join(args[:3])}… failed ({proc.returncode}): "
                f"{output.strip()[-3000:]}"
            )
        return proc

    def image_exists(self, ref: str) -> bool:
        return self.run("image", "inspect", ref, check=False).returncode == 0

    def inspect_image(self, ref: str) -> dict[str, object]:
        out = self.run("image", "inspect", ref).stdout
        data = json.loads(out)
        return dict(data[0] if isinstance(data, list) else data)

    def image_label(self, ref: str, label: str) -> str | None:
        """A label of a local image, or None when the image or the label is missing."""
        if not self.image_exists(ref):
            return None
        info = self.inspect_image(ref)
        config = info.get("Config") or {}
        labels = (config.get("Labels") if isinstance(config, dict) else None) or info.get("Labels")
        return labels.get(label) if isinstance(labels, dict) else None


def _works(program: str) -> bool:
    try:
        return (
            subprocess.run(
                [program, "info"], capture_output=True, timeout=60, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _hybrid_cgroups() -> bool:
    return (
        Path("/sys/fs/cgroup/unified").is_dir()
        and not Path("/sys/fs/cgroup/cgroup.controllers").exists()
    )


def _ulimit_args() -> tuple[str, ...]:
    override = os.environ.get("CONTAINER_ULIMITS")
    if override is not None:
        return tuple(arg for item in override.split() for arg in ("--ulimit", item))
    out: list[str] = []
    for name, kind, cap in (
        ("nofile", resource.RLIMIT_NOFILE, 65536),
        ("nproc", resource.RLIMIT_NPROC, 4096),
    ):
        hard = resource.getrlimit(kind)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        out += ["--ulimit", f"{name}={value}:{value}"]
    return tuple(out)


@functools.cache
def find_engine() -> Engine:
    """The engine to use here, or :class:`ContainerError` saying what to install."""
    wanted = os.environ.get("CONTAINER_ENGINE")
    candidates = [wanted] if wanted else ["podman", "docker"]
    for name in candidates:
        program = shutil.which(name)
        if program is None or not _works(program):
            continue
        if name == "podman":
            global_args: tuple[str, ...] = ()
            if _hybrid_cgroups() and shutil.which("runc"):
                global_args = ("--runtime", shutil.which("runc") or "runc")
            return Engine(name, program, global_args, _ulimit_args())
        return Engine(name, program)
    raise ContainerError(
        f"CONTAINER_ENGINE={wanted} does not work here" if wanted else INSTALL_HINT
    )


def build_args(values: dict[str, str]) -> list[str]:
    """``--build-arg K=V`` for each item."""
    return [arg for k, v in values.items() for arg in ("--build-arg", f"{k}={v}")]


def secret_args(secrets: dict[str, Path]) -> list[str]:
    """``--secret id=K,src=PATH`` for each item whose file exists."""
    return [
        arg
        for key, path in secrets.items()
        if path.is_file()
        for arg in ("--secret", f"id={key},src={path}")
    ]


def mount_args(mounts: Sequence[tuple[Path, str]]) -> list[str]:
    """Read-only bind mounts ``host:container:ro``."""
    return [arg for host, target in mounts for arg in ("-v", f"{host}:{target}:ro")]
