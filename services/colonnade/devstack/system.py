"""``make system-deps``: make sure the system programs the stack and tests need are there.

memcached (the local cache) comes from the system; for tests (`--for-tests`) so do Chromium
(the docs page and web UI tests drive it headless), Go with Debian's grpc-go sources (the
gateway's gRPC client is tested against a grpc-go server built offline) and Debian's
PostgreSQL 15 server (the TLS tests need one built with OpenSSL; the embedded wheel is
not). They are installed with apt-get when missing and this machine can (Debian or Ubuntu,
as root); otherwise this says exactly what to install and exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from colonnade.devstack.memcached import INSTALL_HINT, find_memcached
from colonnade.devstack.ports import find_program
from colonnade.devstack.postgres import (
    DEBIAN_POSTGRES_HINT,
    DEBIAN_POSTGRES_PACKAGE,
    debian_postgres_binaries,
)

CHROMIUM_HINT = (
    "Chromium is not installed (the API docs page test drives it headless). Install it with "
    "`sudo apt-get install chromium` (Debian/Ubuntu) or set CHROMIUM_BIN to a Chrome/Chromium "
    "binary."
)


GO_GRPC_PACKAGES = ("golang-go", "golang-google-grpc-dev")
GO_GRPC_HINT = (
    "Go and Debian's grpc-go sources are not installed (the gateway's gRPC client is tested "
    "against a grpc-go server built offline). Install them with `sudo apt-get install "
    + " ".join(GO_GRPC_PACKAGES)
    + "` (Debian/Ubuntu), or run `make test`, which does when it can."
)
GOCODE = Path("/usr/share/gocode")  # where Debian's golang-*-dev packages put Go sources
GO_GRPC_SOURCES = GOCODE / "src/google.golang.org/grpc"


def go_offline_env(workdir: Path) -> dict[str, str]:
    """The environment for `go build` in GOPATH mode on Debian's Go sources, with no network:
    packages under `workdir/src`, the build cache in `workdir/gocache`."""
    return {
        **os.environ,
        "GO111MODULE": "off",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "GOPATH": f"{workdir}:{GOCODE}",
        "GOCACHE": str(workdir / "gocache"),
    }


def find_go_grpc() -> str | None:
    """The `go` binary, when Debian's grpc-go sources are there too."""
    go = shutil.which("go")
    return go if go and GO_GRPC_SOURCES.is_dir() else None


def find_chromium() -> str | None:
    """A headless-capable Chromium: ``$CHROMIUM_BIN``, then ``PATH``."""
    return find_program("CHROMIUM_BIN", "chromium", "chromium-browser", "google-chrome")


def find_postgres_with_tls() -> str | None:
    """Debian's PostgreSQL server binaries (built with OpenSSL), for the TLS tests."""
    found = debian_postgres_binaries()
    return str(found) if found else None


def _apt_install(*packages: str) -> bool:
    """Install Debian packages when this machine can; True when it ran."""
    if not (shutil.which("apt-get") and os.geteuid() == 0):
        return False
    print(f"installing {' '.join(packages)} with apt-get…", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    return True


def ensure(find: Callable[[], str | None], packages: str | tuple[str, ...], hint: str) -> str:
    found = find()
    if found:
        return found
    if _apt_install(*((packages,) if isinstance(packages, str) else packages)):
        found = find()
        if found:
            return found
    raise SystemExit(hint)


def main() -> int:
    print(f"memcached: {ensure(find_memcached, 'memcached', INSTALL_HINT)}", file=sys.stderr)
    if "--for-tests" in sys.argv:
        print(f"chromium: {ensure(find_chromium, 'chromium', CHROMIUM_HINT)}", file=sys.stderr)
        go = ensure(find_go_grpc, GO_GRPC_PACKAGES, GO_GRPC_HINT)
        print(f"go (with grpc-go sources): {go}", file=sys.stderr)
        postgres = ensure(find_postgres_with_tls, DEBIAN_POSTGRES_PACKAGE, DEBIAN_POSTGRES_HINT)
        print(f"PostgreSQL with OpenSSL (TLS tests): {postgres}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
