"""``.local/run.json``: what a running ``make run`` tells ``make status`` and a second ``make run``.

The stack writes it when it starts (its pid, the state ``starting``) and again when it is ready
(each component's address and how to probe it, how long start-up took), and removes it when it
stops. A file whose pid is gone is a stack that was killed: it counts as not running.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

#: How ``make status`` probes a component: PostgreSQL's and memcached's own protocols, gRPC
#: health, or an HTTP GET answered 200.
#: The checkout (tools/colonnade_tools/devstack/runstate.py → repository): `.local/` is there.
ROOT = Path(__file__).resolve().parents[3]

Probe = Literal["postgres", "memcached", "grpc", "http", "external"]


@dataclass(frozen=True)
class Component:
    """One process of the stack (or a store it was given) and where it answers."""

    name: str
    probe: Probe
    address: str  # host:port, or a URL for http
    detail: str = ""


@dataclass
class RunState:
    """The file's content."""

    pid: int
    started_at: float
    state: Literal["starting", "ready"] = "starting"
    ready_after: float | None = None
    components: list[Component] = field(default_factory=list)


def state_dir() -> Path:
    """The local data folder: ``$COLONNADE_STATE_DIR``, else the checkout's ``.local/``."""
    return Path(os.environ.get("COLONNADE_STATE_DIR", ROOT / ".local"))


def path(state_dir: Path) -> Path:
    """Where the file lives in a state folder."""
    return state_dir / "run.json"


def write(state_dir: Path, run: RunState) -> None:
    """Replace the file atomically (a reader never sees half of it)."""
    target = path(state_dir)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps(asdict(run), indent=2) + "\n")
    partial.replace(target)


def remove(state_dir: Path, pid: int) -> None:
    """Remove the file if it is still ``pid``'s."""
    current = read(state_dir)
    if current is not None and current.pid == pid:
        path(state_dir).unlink(missing_ok=True)


def read(state_dir: Path) -> RunState | None:
    """The file, or None when there is none or it cannot be read."""
    try:
        raw = json.loads(path(state_dir).read_text())
        components = [Component(**c) for c in raw.pop("components")]
        return RunState(**raw, components=components)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stack(pid: int) -> bool:
    """Whether ``pid`` is a ``make run`` process (not another that reused a dead one's pid);
    without /proc, any live process counts."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return alive(pid) and not Path("/proc/self").exists()
    except OSError:
        return alive(pid)
    return b"colonnade_tools.devstack" in command


def running(state_dir: Path) -> RunState | None:
    """The stack using ``state_dir``, when its process is still there."""
    run = read(state_dir)
    return run if run is not None and is_stack(run.pid) else None
