"""Supply chain: every Python file the venv and the image install is hash-pinned, pip really
refuses a file whose hash differs, and the locks are audited against PyPI's advisories.

The locks (``make lock``): requirements/dev.txt (the venv ``make`` builds), image.txt (the
image's runtime) and build.txt (what builds the image's wheel). SECURITY.md, "Supply chain".
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

from tests.conftest import REPO_ROOT

LOCKS = ("dev.txt", "image.txt", "build.txt")
#: The two editable packages of this repository: they have no hash to pin.
OWN = {"colonnade", "colonnade-tools"}
#: Seconds the probe of PyPI's JSON API (pip-audit's vulnerability source) may take.
PROBE_TIMEOUT = 5.0

#: Advisories that do not apply here, each with its reason (pip-audit --ignore-vuln).
IGNORED_VULNERABILITIES: dict[str, str] = {}


#: ``name==version [; marker] --hash=sha256:… …`` (one logical line).
REQUIREMENT = re.compile(
    r"([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.*?))?\s*((?:--hash=sha256:[0-9a-f]{64}\s*)*)"
)


def locked(name: str) -> list[tuple[str, str, str | None, list[str]]]:
    """(name, version, marker, hashes) of each requirement in requirements/``name``."""
    text = (REPO_ROOT / "requirements" / name).read_text()
    # One requirement per logical line: continuation lines carry its hashes.
    logical = re.sub(r"\\\n\s*", " ", text)
    found: list[tuple[str, str, str | None, list[str]]] = []
    for line in logical.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        match = REQUIREMENT.fullmatch(line)
        assert match, f"requirements/{name}: not an exact, hash-pinned requirement: {line!r}"
        req, version, marker, hashes = match.groups()
        found.append((canonicalize_name(req), version, marker, hashes.split()))
    return found


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_requirement_is_exact_and_hashed(lock: str) -> None:
    entries = locked(lock)
    assert len(entries) > 5, f"requirements/{lock} is nearly empty"
    unhashed = [name for name, _version, _marker, hashes in entries if not hashes]
    assert not unhashed, f"requirements/{lock} lacks hashes for {unhashed}: run make lock"


def test_the_venv_holds_exactly_the_locked_versions() -> None:
    """What ``make setup`` installed is what requirements/dev.txt pins: nothing unlocked,
    nothing at another version, nothing of the lock missing (for this Python's markers)."""
    pins: dict[str, set[str]] = {}
    wanted: dict[str, str] = {}
    for name, version, marker, _hashes in locked("dev.txt"):
        pins.setdefault(name, set()).add(version)
        if marker is None or Marker(marker).evaluate():
            wanted[name] = version
    installed: dict[str, str] = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
    }
    unlocked = {n: v for n, v in installed.items() if n not in OWN and v not in pins.get(n, ())}
    assert not unlocked, f"installed but not (at this version) in requirements/dev.txt: {unlocked}"
    missing = {n: v for n, v in wanted.items() if installed.get(n) != v}
    assert not missing, f"locked in requirements/dev.txt but not installed: {missing}"


def test_the_makefile_and_the_dockerfile_install_only_hash_checked_files() -> None:
    """Every pip install of a lock says --require-hashes; the local packages, which have no
    hash, get their build dependencies from the hashed requirements/build.txt (never fetched
    unchecked by build isolation)."""
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "pip install --quiet --require-hashes --no-deps -r requirements/dev.txt" in makefile
    assert (
        "pip install --quiet --no-deps --build-constraint requirements/build.txt -e . -e tools"
        in makefile
    )
    dockerfile = re.sub(r"\\\n\s*", " ", (REPO_ROOT / "Dockerfile").read_text())
    installs = re.findall(r"pip install [^&;\n]*", dockerfile)
    assert len(installs) >= 3, installs
    for command in installs:  # a lock, or the wheel built just before
        assert "--require-hashes" in command or "--no-index" in command, command
    builds = re.findall(r"pip wheel [^&;\n]*", dockerfile)
    assert builds, dockerfile
    for command in builds:
        assert "--no-build-isolation" in command, command


def _wheel(folder: Path, payload: str) -> Path:
    """A one-module wheel of ``hashprobe`` 1.0 whose module holds ``payload``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hashprobe-1.0-py3-none-any.whl"
    files = {
        "hashprobe.py": f"PAYLOAD = {payload!r}\n",
        "hashprobe-1.0.dist-info/METADATA": (
            "Metadata-Version: 2.1\nName: hashprobe\nVersion: 1.0\n"
        ),
        "hashprobe-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append("hashprobe-1.0.dist-info/RECORD,,")
    files["hashprobe-1.0.dist-info/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
    return path


def _pip_install(lock: Path, links: Path, target: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's install mode (the venv's own pip), offline, from ``links``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--require-hashes",
            "--no-deps",
            "--no-index",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--find-links",
            str(links),
            "--target",
            str(target),
            "-r",
            str(lock),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_pip_refuses_a_file_whose_hash_differs_from_the_lock(tmp_path: Path) -> None:
    """The lock's hash is what pip checks: the genuine file installs; the same name and
    version with other content (a swapped upload, a poisoned mirror) and a line without a
    hash are refused before anything is installed."""
    genuine = _wheel(tmp_path / "genuine", "genuine")
    digest = hashlib.sha256(genuine.read_bytes()).hexdigest()
    lock = tmp_path / "lock.txt"
    lock.write_text(f"hashprobe==1.0 --hash=sha256:{digest}\n")

    ok = _pip_install(lock, genuine.parent, tmp_path / "ok")
    assert ok.returncode == 0, ok.stderr
    assert "genuine" in (tmp_path / "ok" / "hashprobe.py").read_text()

    swapped = _wheel(tmp_path / "swapped", "tampered")
    refused = _pip_install(lock, swapped.parent, tmp_path / "refused")
    assert refused.returncode != 0, refused.stdout
    assert "DO NOT MATCH THE HASHES" in refused.stderr, refused.stderr
    assert digest in refused.stderr  # pip names the expected hash
    assert not (tmp_path / "refused" / "hashprobe.py").exists()

    lock.write_text("hashprobe==1.0\n")
    bare = _pip_install(lock, genuine.parent, tmp_path / "bare")
    assert bare.returncode != 0, bare.stdout
    assert "Hashes are required in --require-hashes mode" in bare.stderr, bare.stderr


#: A release with published advisories: the probe asks PyPI about it, as pip-audit will ask
#: about each locked release, and must hear of them.
CANARY = "https://pypi.org/pypi/jinja2/2.10/json"


def _advisories_unreachable() -> str | None:
    """None when PyPI's per-release JSON API, pip-audit's source, answers with advisories;
    else why not."""
    try:
        with urllib.request.urlopen(CANARY, timeout=PROBE_TIMEOUT) as response:
            vulns = json.loads(response.read()).get("vulnerabilities")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{CANARY}: {type(exc).__name__}: {exc}"
    if not vulns:
        return f"{CANARY} lists no vulnerabilities: the data is not there"
    return None


@pytest.mark.slow
def test_no_locked_requirement_has_a_known_vulnerability(tmp_path: Path) -> None:
    """pip-audit reads each lock's exact, hashed versions (--disable-pip: nothing resolved,
    nothing installed) and asks PyPI's advisory data (OSV-backed) about them."""
    why = _advisories_unreachable()
    if why is not None:
        pytest.skip(f"pip-audit skipped: PyPI's vulnerability data is unreachable ({why})")
    ignores = [arg for vuln in IGNORED_VULNERABILITIES for arg in ("--ignore-vuln", vuln)]
    found: dict[str, list[str]] = {}
    unaudited: list[str] = []
    for lock in LOCKS:  # one run per lock (pip-audit refuses a package listed twice)
        audit = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "-r",
                str(REPO_ROOT / "requirements" / lock),
                "--require-hashes",
                "--disable-pip",
                "--vulnerability-service",
                "pypi",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--cache-dir",
                str(tmp_path / "cache"),
                *ignores,
            ],
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert audit.stdout, f"pip-audit -r requirements/{lock}: {audit.stderr}"
        for dep in json.loads(audit.stdout)["dependencies"]:
            if "skip_reason" in dep:
                unaudited.append(f"{lock}: {dep['skip_reason']}")
            if dep.get("vulns"):
                found[f"{dep['name']}=={dep['version']}"] = [v["id"] for v in dep["vulns"]]
        if not found:
            assert audit.returncode == 0, audit.stderr
    assert not found, f"known vulnerabilities (upgrade the pin, or ignore with a reason): {found}"
    assert not unaudited, unaudited
