"""``make system-deps``: make sure the system programs the stack and tests need are there.

memcached (the local cache) comes from the system; for tests (`--for-tests`) so do Chromium
(the docs page and web UI tests drive it headless), Go with Debian's grpc-go sources (the
gateway's gRPC client is tested against a grpc-go server built offline), Debian's PostgreSQL
15 server (the database bootstrap is tested on 15 as well as on the embedded wheel's 18, and
the TLS tests need a server built with OpenSSL, which the wheel's is not), and podman with
runc, mmdebstrap and docker-registry (the image tests build, run and push containers).
``--for-browser`` asks for Chromium alone (``make screenshots``), ``--for-docs`` for Graphviz
alone (``make diagrams`` renders the README's architecture picture with ``dot``).
They are installed with apt-get when missing and this machine can (Debian or Ubuntu, as root);
otherwise this says exactly what to install and exits non-zero.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from colonnade_tools.devstack.memcached import INSTALL_HINT, find_memcached
from colonnade_tools.devstack.ports import find_program
from colonnade_tools.devstack.postgres import DEBIAN_POSTGRES_PACKAGE, debian_postgres_binaries

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
# The image tests build and run containers; the release test pushes to a loopback registry.
CONTAINER_PACKAGES = ("podman", "buildah", "runc", "mmdebstrap", "docker-registry")
CONTAINER_HINT = (
    "The container tests need podman (with runc), mmdebstrap and a registry: install them with "
    "`sudo apt-get install " + " ".join(CONTAINER_PACKAGES) + "` (Debian/Ubuntu), or use Docker "
    "with a running daemon and CONTAINER_ENGINE=docker; COLONNADE_SKIP_CONTAINERS=1 skips them."
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


def find_container_tools() -> str | None:
    """podman, when runc, mmdebstrap and docker-registry are there too (or CONTAINER_ENGINE)."""
    if os.environ.get("CONTAINER_ENGINE") or os.environ.get("COLONNADE_SKIP_CONTAINERS") == "1":
        return os.environ.get("CONTAINER_ENGINE") or "skipped (COLONNADE_SKIP_CONTAINERS=1)"
    found = [shutil.which(p) for p in ("podman", "runc", "mmdebstrap", "docker-registry")]
    return found[0] if all(found) else None


POSTGRES15_PACKAGE = DEBIAN_POSTGRES_PACKAGE
POSTGRES15_HINT = (
    "PostgreSQL 15's server is not installed (the database bootstrap is tested on PostgreSQL 15 "
    "and on the embedded 18; the TLS tests need a server built with OpenSSL). Install it with "
    "`sudo apt-get install postgresql-15` (Debian/Ubuntu), set POSTGRES15_BIN to a directory "
    "holding PostgreSQL 15's initdb and postgres, or run `make test`, which installs it when it "
    "can."
)
#: postgresql-common would create and start a "main" cluster on port 5432 when the server
#: package is installed; the tests start their own clusters, so ask it not to.
NO_MAIN_CLUSTER = Path("/etc/postgresql-common/createcluster.d/colonnade-no-main-cluster.conf")


def find_postgres15() -> str | None:
    """The directory with PostgreSQL 15's ``initdb`` and ``postgres``: ``$POSTGRES15_BIN``,
    then Debian's."""
    explicit = os.environ.get("POSTGRES15_BIN")
    bin_dir = Path(explicit) if explicit else debian_postgres_binaries()
    if bin_dir and all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres")):
        return str(bin_dir)
    return None


def _no_main_cluster() -> None:
    if find_postgres15() is None and os.geteuid() == 0 and shutil.which("apt-get"):
        NO_MAIN_CLUSTER.parent.mkdir(parents=True, exist_ok=True)
        NO_MAIN_CLUSTER.write_text("create_main_cluster = false\n")


GRAPHVIZ_HINT = (
    "Graphviz is not installed (`make diagrams` renders docs/architecture.dot with `dot`). "
    "Install it with `sudo apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` "
    "(macOS), or set DOT_BIN to a `dot` binary."
)


def find_dot() -> str | None:
    """Graphviz's ``dot``: ``$DOT_BIN``, then ``PATH``."""
    return find_program("DOT_BIN", "dot")


def find_chromium() -> str | None:
    """A headless-capable Chromium: ``$CHROMIUM_BIN``, then ``PATH``."""
    return find_program("CHROMIUM_BIN", "chromium", "chromium-browser", "google-chrome")


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
    if "--for-docs" in sys.argv:  # make diagrams needs nothing else
        print(f"graphviz: {ensure(find_dot, 'graphviz', GRAPHVIZ_HINT)}", file=sys.stderr)
        return 0
    print(f"memcached: {ensure(find_memcached, 'memcached', INSTALL_HINT)}", file=sys.stderr)
    if "--for-browser" in sys.argv:  # make screenshots
        print(f"chromium: {ensure(find_chromium, 'chromium', CHROMIUM_HINT)}", file=sys.stderr)
    if "--for-tests" in sys.argv:
        print(f"chromium: {ensure(find_chromium, 'chromium', CHROMIUM_HINT)}", file=sys.stderr)
        go = ensure(find_go_grpc, GO_GRPC_PACKAGES, GO_GRPC_HINT)
        print(f"go (with grpc-go sources): {go}", file=sys.stderr)
        podman = ensure(find_container_tools, CONTAINER_PACKAGES, CONTAINER_HINT)
        print(f"containers: {podman}", file=sys.stderr)
        _no_main_cluster()
        pg15 = ensure(find_postgres15, POSTGRES15_PACKAGE, POSTGRES15_HINT)
        print(f"postgresql 15: {pg15}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
