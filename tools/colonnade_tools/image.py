"""``make image``: build the one Colonnade image with docker or podman.

    colonnade-image [--base IMAGE] [--tag NAME:TAG ...]

The base image (the Dockerfile's ``BASE_IMAGE``) is, in order: ``--base`` or
``$BASE_IMAGE``; else the official ``python:3.11-slim-bookworm`` when it is present or
can be pulled; else a base built here from Debian packages (``base_image.py``), so the
build works with no registry at all. The image is tagged ``colonnade:<revision>`` and
``colonnade:latest`` (``localhost/`` with podman) and carries OCI labels with the
source, the git revision and the version. The proxy CA that pip on this host trusts
(``PIP_CERT``, ``REQUESTS_CA_BUNDLE`` or ``SSL_CERT_FILE``) is handed to the build as a
secret, never stored in a layer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from colonnade_tools.base_image import ensure_base_image
from colonnade_tools.containers import (
    ContainerError,
    Engine,
    build_args,
    find_engine,
    secret_args,
)

ROOT = Path(__file__).resolve().parents[2]
OFFICIAL_BASE = "docker.io/library/python:3.11-slim-bookworm"
REPOSITORY = "colonnade"
DEFAULT_SOURCE = "https://github.com/colonnade/colonnade"


@dataclass(frozen=True)
class BuiltImage:
    """A local image: its tags, the git revision it was built from, its image id."""

    tags: tuple[str, ...]
    revision: str
    image_id: str
    base: str

    @property
    def ref(self) -> str:
        return self.tags[0]


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_revision(root: Path = ROOT) -> str:
    """The commit being built; ``-dirty`` when the work tree has uncommitted changes."""
    try:
        revision = _git(root, "rev-parse", "--short=12", "HEAD")
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{revision}-dirty" if dirty else revision


def _created(root: Path) -> str:
    """The commit's time: the same sources give the same label (reproducible builds)."""
    try:
        return _git(root, "log", "-1", "--format=%cI")
    except (OSError, subprocess.CalledProcessError):
        return "1970-01-01T00:00:00Z"


def project_version(root: Path = ROOT) -> str:
    with open(root / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def choose_base(engine: Engine, requested: str | None) -> str:
    """The base image to build on (see the module docstring for the order)."""
    if requested:
        return requested
    if engine.image_exists(OFFICIAL_BASE):
        return OFFICIAL_BASE
    pulled = engine.run("pull", "--quiet", OFFICIAL_BASE, check=False, timeout=300)
    if pulled.returncode == 0:
        return OFFICIAL_BASE
    print(
        f"image: cannot pull {OFFICIAL_BASE}; building on a base made from Debian packages",
        file=sys.stderr,
    )
    return ensure_base_image(engine)


def _ca_bundle() -> Path | None:
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def base_digest(engine: Engine, base: str) -> str:
    """The digest ``base`` resolves to here: its registry manifest digest when it came from
    one, else (a base built here) its image ID."""
    info = engine.inspect_image(base)
    digests = info.get("RepoDigests") or []
    if isinstance(digests, list) and digests:
        return str(digests[0]).rpartition("@")[2]
    image_id = str(info["Id"])
    return image_id if image_id.startswith("sha256:") else f"sha256:{image_id}"


def build_image(
    *,
    base: str | None = None,
    tags: list[str] | None = None,
    engine: Engine | None = None,
    root: Path = ROOT,
) -> BuiltImage:
    """Build the image from the checkout at ``root`` and return what was built."""
    engine = engine or find_engine()
    base = choose_base(engine, base or os.environ.get("BASE_IMAGE"))
    revision = git_revision(root)
    prefix = "localhost/" if engine.name == "podman" else ""
    all_tags = tags or [f"{prefix}{REPOSITORY}:{revision}", f"{prefix}{REPOSITORY}:latest"]
    args = {
        "BASE_IMAGE": base,
        "VERSION": project_version(root),
        "REVISION": revision,
        "SOURCE": os.environ.get("COLONNADE_SOURCE_URL", DEFAULT_SOURCE),
        "CREATED": _created(root),
    }
    # Also as --label: buildah (podman) reuses a cached LABEL step whose ARG values
    # changed, which would leave an older revision on the image.
    labels = {
        "org.opencontainers.image.source": args["SOURCE"],
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.version": args["VERSION"],
        "org.opencontainers.image.created": args["CREATED"],
        # The base as named (often a tag) and what that name meant at build time, so the
        # image can be rebuilt on exactly that base (--base NAME@DIGEST) after the tag moves.
        "org.opencontainers.image.base.name": base,
        "org.opencontainers.image.base.digest": base_digest(engine, base),
    }
    ca = _ca_bundle()
    command = [
        "build",
        *(["--format", "docker"] if engine.name == "podman" else []),  # keeps HEALTHCHECK
        *engine.limit_args,
        *build_args(args),
        *(arg for k, v in labels.items() for arg in ("--label", f"{k}={v}")),
        *secret_args({"ca-bundle": ca} if ca else {}),
        *(arg for tag in all_tags for arg in ("--tag", tag)),
        "--file",
        str(root / "Dockerfile"),
        str(root),
    ]
    started = time.monotonic()
    print(f"image: building {all_tags[0]} on {base} with {engine.name}…", file=sys.stderr)
    engine.run(*command, timeout=3600)
    image_id = str(engine.inspect_image(all_tags[0])["Id"])
    print(f"image: built {all_tags[0]} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return BuiltImage(tuple(all_tags), revision, image_id, base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="base image (default: see colonnade_tools.image)")
    parser.add_argument("--tag", action="append", help="tag the image NAME:TAG (repeatable)")
    args = parser.parse_args(argv)
    try:
        image = build_image(base=args.base, tags=args.tag)
    except ContainerError as exc:
        print(f"colonnade-image: {exc}", file=sys.stderr)
        return 1
    print(image.ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
