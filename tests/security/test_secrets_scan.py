"""No secret in the repository: detect-secrets scans every tracked file against the reviewed
baseline (.secrets.baseline), whose findings are all test fixtures or look-alikes.

A new finding fails the test. If it is a real secret, remove it (and rotate it: it is in the
history). If it is not, mark its line with ``# pragma: allowlist secret`` or refresh the
baseline and review what it adds (``is_secret: false``)::

    .venv/bin/detect-secrets scan --baseline .secrets.baseline

The scanner is Bridgecrew's maintained fork of Yelp's detect-secrets (``bc-detect-secrets``),
already in the lock as checkov's dependency; BUILD.md says why.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

from tests.conftest import REPO_ROOT

BASELINE = REPO_ROOT / ".secrets.baseline"

Finding = tuple[str, str, str]  # (file, type, hashed secret): line numbers move, these do not


def baseline() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(BASELINE.read_text())
    return data


def scan(files: list[str], root: Path) -> set[Finding]:
    """What the baseline's plugins and filters find in ``files`` (relative to ``root``)."""
    config = baseline()
    found: set[Finding] = set()
    cwd = Path.cwd()
    os.chdir(root)  # detect-secrets reports (and its file filters match) relative paths
    try:
        with transient_settings(
            {"plugins_used": config["plugins_used"], "filters_used": config["filters_used"]}
        ):
            secrets = SecretsCollection()
            secrets.scan_files(*files, num_processors=min(2, os.cpu_count() or 1))
            for filename, secret in secrets:
                found.add((filename, secret.type, secret.secret_hash))
    finally:
        os.chdir(cwd)
    return found


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.fail(f"git ls-files failed (the scan needs a git checkout): {listed.stderr!r}")
    return [name for name in listed.stdout.decode().split("\0") if name]


def reviewed() -> Iterator[tuple[Finding, bool | None]]:
    for filename, items in baseline()["results"].items():
        for item in items:
            yield (filename, item["type"], item["hashed_secret"]), item.get("is_secret")


@pytest.mark.slow
def test_no_secret_in_the_repository_beyond_the_reviewed_baseline() -> None:
    findings = scan(tracked_files(), REPO_ROOT)
    known = dict(reviewed())
    new = sorted(f for f in findings if f not in known)
    assert not new, (
        "possible secrets not in .secrets.baseline (see this file's docstring): "
        + "; ".join(f"{name}: {kind}" for name, kind, _hash in new)
    )


def test_every_baseline_entry_was_reviewed_as_not_a_secret() -> None:
    unreviewed = [f"{name}: {kind}" for (name, kind, _h), verdict in reviewed() if verdict]
    assert not unreviewed, f"marked as real secrets (remove and rotate them): {unreviewed}"
    missing = [f"{name}: {kind}" for (name, kind, _h), verdict in reviewed() if verdict is None]
    assert not missing, f"review these baseline entries (is_secret: false): {missing}"


def test_the_scan_finds_a_private_key_a_cloud_key_and_a_token(tmp_path: Path) -> None:
    """The configured scan is not blind: the kinds of secret this system has are found."""
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    key_id = "AKIA" + base64.b32encode(os.urandom(10)).decode()[:16]
    secret_key = base64.b64encode(os.urandom(30)).decode()
    token = jwt.encode({"sub": "someone", "scope": "orders.write"}, os.urandom(32), "HS256")
    leaky = tmp_path / "leaky.py"
    leaky.write_text(
        f'AWS_ACCESS_KEY_ID = "{key_id}"\n'
        f'aws_secret_access_key = "{secret_key}"\n'
        f'TOKEN = "{token}"\n'
        f'KEY = """{pem}"""\n'
    )
    kinds = {kind for _name, kind, _hash in scan(["leaky.py"], tmp_path)}
    assert {"Private Key", "AWS Access Key", "JSON Web Token"} <= kinds, kinds
