"""A Python base image built from Debian packages, for hosts that cannot pull images.

The Dockerfile's default base is the official ``python:3.11-slim-bookworm``. Where no
registry is reachable (this project's CI, air-gapped build hosts), ``make image`` builds
an equivalent base instead: Debian bookworm's ``python3`` (3.11) with ``venv`` and the
CA certificates, made by ``mmdebstrap`` from the host's own apt sources and imported as
``localhost/colonnade-base:py3.11-bookworm``. Documentation, man pages and locales are
left out (licences stay). The image carries the digest of this recipe as a label and is
rebuilt only when the recipe changes.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from colonnade_tools.containers import ContainerError, Engine, find_engine

SUITE = "bookworm"
TAG = "localhost/colonnade-base:py3.11-bookworm"
RECIPE_LABEL = "org.colonnade.base.recipe"
PACKAGES = ("python3", "python3-venv", "ca-certificates", "tzdata")
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
)
# What `podman import` / `docker import` sets on the image (the official image sets these).
CHANGES = ("ENV LANG=C.UTF-8", 'CMD ["python3"]')
# Merged /usr the way debootstrap makes it: without this hook bookworm's
# init-system-helpers pulls in usrmerge, and with it the whole of perl (~50 MB).
MERGED_USR_HOOK = Path("/usr/share/mmdebstrap/hooks/merged-usr")
MMDEBSTRAP_HINT = "mmdebstrap is not installed (Debian: `apt-get install mmdebstrap`)"


def recipe_digest() -> str:
    """What the base is made of: a change to any of it makes a new base."""
    text = "\n".join([SUITE, *PACKAGES, *DPKG_OPTIONS, *CHANGES, MERGED_USR_HOOK.name])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_base_image(engine: Engine | None = None, *, force: bool = False) -> str:
    """The local base image's reference, built first when missing or out of date."""
    engine = engine or find_engine()
    digest = recipe_digest()
    if not force and engine.image_label(TAG, RECIPE_LABEL) == digest:
        return TAG
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ContainerError(MMDEBSTRAP_HINT)
    started = time.monotonic()
    print(f"base image: building {TAG} from Debian {SUITE} packages…", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="colonnade-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        command = [
            mmdebstrap,
            "--variant=minbase",
            "--quiet",
            f"--include={','.join(PACKAGES)}",
            '--aptopt=APT::Install-Recommends "false"',
            *(f"--dpkgopt={opt}" for opt in DPKG_OPTIONS),
            *([f"--hook-dir={MERGED_USR_HOOK}"] if MERGED_USR_HOOK.is_dir() else []),
            SUITE,
            str(rootfs),
        ]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ContainerError(f"mmdebstrap failed: {(proc.stderr + proc.stdout)[-3000:]}")
        changes = [*CHANGES, f"LABEL {RECIPE_LABEL}={digest}"]
        engine.run(
            "import",
            *(arg for change in changes for arg in ("--change", change)),
            str(rootfs),
            TAG,
        )
    print(f"base image: {TAG} ready in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return TAG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    try:
        print(ensure_base_image(force=args.force))
    except ContainerError as exc:
        print(f"base-image: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
