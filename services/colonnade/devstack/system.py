"""``make system-deps``: make sure the system programs the stack needs are there.

Only memcached comes from the system. It is installed with apt-get when it is
missing and this machine can (Debian or Ubuntu, as root); otherwise this says
exactly what to install and exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from colonnade.devstack.memcached import INSTALL_HINT, find_memcached


def ensure_memcached() -> str:
    found = find_memcached()
    if found:
        return found
    if os.environ.get("CACHE_URL") and os.environ.get("COLONNADE_NO_SYSTEM_INSTALL"):
        return ""
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing memcached with apt-get…", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "memcached"],
            check=True,
            env=env,
        )
        found = find_memcached()
        if found:
            return found
    raise SystemExit(INSTALL_HINT)


def main() -> int:
    path = ensure_memcached()
    if path:
        print(f"memcached: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
