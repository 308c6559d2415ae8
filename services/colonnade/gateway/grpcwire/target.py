"""Backend addresses in gRPC's name syntax (the subset a plaintext HTTP/2 client needs)."""

from __future__ import annotations

from colonnade.gateway.errors import BackendConfigError


def parse_target(target: str) -> tuple[str, int, str | None]:
    """(host, port, unix path) of `host:port`, `[v6]:port`, `dns:///host:port`, `unix:/path`.

    BackendConfigError (a ValueError) names the target when it is none of these.
    """
    t = target.strip()
    if t.startswith("unix:"):
        path = t[5:].removeprefix("//")
        if not path:
            raise BackendConfigError(f"backend {target!r}: unix: needs a socket path")
        return "", 0, path
    for prefix in ("dns:///", "dns:", "ipv4:", "ipv6:"):
        if t.startswith(prefix):
            t = t[len(prefix) :]
            break
    host, sep, port = t.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BackendConfigError(f"backend {target!r}: expected HOST:PORT, e.g. 127.0.0.1:50051")
    return host.strip("[]"), int(port), None


def authority(target: str) -> str:
    """The `:authority` a call to `target` carries (gRPC uses `localhost` for Unix sockets)."""
    if target.strip().startswith("unix:"):
        return "localhost"
    return target.split("///")[-1].removeprefix("dns:")
