"""``make system-deps``: make sure the system programs the stack and tests need are there.

memcached (the local cache) and Chromium (the docs page test drives it headless) come from
the system. They are installed with apt-get when missing and this machine can (Debian or
Ubuntu, as root); otherwise this says exactly what to install and exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable

from colonnade.devstack.memcached import INSTALL_HINT, find_memcached
from colonnade.devstack.ports import find_program

CHROMIUM_HINT = (
    "Chromium is not installed (the API docs page test drives it headless). Install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu) or set CHROMIUM_BIN to a Chrome/Chromium "
    "binary."
)


def find_chromium() -> str | None:
    """A headless-capable Chromium: ``$CHROMIUM_BIN``, then ``PATH``."""
    return find_program("CHROMIUM_BIN", "chromium", "chromium-browser", "google-chrome")


def _apt_install(package: str) -> bool:
    """Install a Debian package when this machine can; True when it ran."""
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return False
    print(f"installing {package} with apt-get…", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
    )
    return True


def ensure(find: Callable[[], str | None], package: str, hint: str) -> str:
    found = find()
    if found:
        return found
    if _apt_install(package):
        found = find()
        if found:
            return found
    raise SystemExit(hint)


def main() -> int:
    print(f"memcached: {ensure(find_memcached, 'memcached', INSTALL_HINT)}", file=sys.stderr)
    if "--with-chromium" in sys.argv:
        print(f"chromium: {ensure(find_chromium, 'chromium', CHROMIUM_HINT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
