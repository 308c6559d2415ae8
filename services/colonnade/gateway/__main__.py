"""`python -m colonnade.gateway` / `colonnade-gateway`: serve REST in front of gRPC backends.

    colonnade-gateway --descriptors services/colonnade/descriptors/colonnade.binpb \\
        --backend 'colonnade.catalog.v1.CatalogService=127.0.0.1:50051' --port 8080

Settings come from defaults, then a TOML file (`--config` or COLONNADE_GATEWAY_CONFIG), then
COLONNADE_GATEWAY_* variables, then flags. `--workers N` starts N processes sharing the port
with SO_REUSEPORT (each with its own channel pool).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from typing import Any

from colonnade.gateway.config import GatewayConfig, load
from colonnade.gateway.errors import ConfigError, ConfigurationError
from colonnade.gateway.rpc import CLIENTS

log = logging.getLogger("colonnade.gateway")
#: Seconds a stopping gateway lets the requests being served finish.
DRAIN_SECONDS = 10.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (every flag defaults to None: unset flags do not override)."""
    p = argparse.ArgumentParser(
        prog="colonnade-gateway",
        description="REST/JSON gateway for gRPC services, driven by google.api.http rules.",
    )
    p.add_argument("--config", help="TOML configuration file")
    p.add_argument("--descriptors", action="append", help="FileDescriptorSet file (repeatable)")
    p.add_argument(
        "--backend",
        dest="backends",
        action="append",
        help="SERVICE=HOST:PORT; SERVICE is a full service name, a package or * (repeatable)",
    )
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--reuse-port", action="store_const", const=True, default=None)
    p.add_argument("--channels-per-backend", type=int)
    p.add_argument(
        "--grpc-client",
        choices=CLIENTS,
        help="the gRPC client calling the backends: native (default) or grpcio (grpc.aio)",
    )
    p.add_argument(
        "--strict",
        action="store_const",
        const=True,
        default=None,
        help="400 for unknown query parameters, unknown JSON fields and path/body collisions",
    )
    p.add_argument(
        "--form-post-as-get",
        action="store_const",
        const=True,
        default=None,
        help="serve a form-encoded POST to a GET-only path as the GET (off: see the README)",
    )
    p.add_argument("--default-timeout", help="a duration (30, 30s, 500ms); 0 = no default deadline")
    p.add_argument("--max-body-bytes", type=int)
    p.add_argument("--max-message-bytes", type=int)
    p.add_argument("--cors-origin", dest="cors_origins", action="append")
    p.add_argument("--cors-max-age", type=int)
    p.add_argument("--access-log", action="store_const", const=True, default=None)
    p.add_argument(
        "--no-policies",
        dest="policies",
        action="store_const",
        const=False,
        default=None,
        help="a plain transcoder: read and enforce no edge policies",
    )
    p.add_argument("--auth-jwks", help="JWKS file or https:// URL of the token issuer")
    p.add_argument("--auth-issuer")
    p.add_argument("--auth-audience")
    p.add_argument("--api-keys-file", help="JSON file of hashed API keys")
    p.add_argument("--policy-cache-url", help="memcached://host:port for counters and cache")
    p.add_argument("--replicas", type=int, help="gateway replicas (per-replica fallback limits)")
    p.add_argument("--transforms-file", help="TOML header rules per route")
    p.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return p.parse_args(argv)


def load_config(args: argparse.Namespace, env: dict[str, str] | None = None) -> GatewayConfig:
    """Defaults < file < environment < flags (colonnade.gateway.config.load)."""
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "log_level")}
    return load(file=args.config, env=env, flags=flags)


async def run(cfg: GatewayConfig, ready: Any = None) -> None:
    """Serves until SIGTERM/SIGINT, then closes the listener and the channel pools."""
    from colonnade.gateway.app import Gateway
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.server import HttpProtocol, drain, serve

    app = Gateway(cfg, load_registry(cfg.descriptors))
    await app.startup()
    connections: set[HttpProtocol] = set()
    server = await serve(
        app,
        cfg.host,
        cfg.port,
        reuse_port=cfg.reuse_port,
        error_page=app.error_page,
        limits=cfg.limits(),
        connections=connections,
    )
    addr = server.sockets[0].getsockname()
    log.info(
        "gateway listening",
        extra={
            "address": f"http://{addr[0]}:{addr[1]}",
            "routes": len(app.router.routes),
            "backends": app.backends.services,
            "grpc_client": cfg.grpc_client,
            "pipeline": app.pipeline.names(),
            "pid": os.getpid(),
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(addr)
    await stop.wait()
    log.info("gateway stopping", extra={"connections": len(connections)})
    # The requests being served finish before the backends' channels close (a rolling
    # restart then fails none); idle keep-alive connections are closed at once.
    cut = await drain(server, connections, DRAIN_SECONDS)
    if cut:
        log.warning("connections cut at the end of the drain", extra={"connections": cut})
    await app.shutdown()


def _supervise(argv: list[str], cfg: GatewayConfig) -> int:
    """Starts cfg.workers processes sharing the port and waits for them."""
    if cfg.port == 0:
        raise ConfigError("workers: several workers need a fixed --port")
    child_argv = [
        sys.executable,
        "-m",
        "colonnade.gateway",
        *argv,
        "--workers",
        "1",
        "--reuse-port",
    ]
    procs = [subprocess.Popen(child_argv) for _ in range(cfg.workers)]

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [p.wait() for p in procs]
    return max(codes, default=0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `colonnade-gateway`."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        from colonnade.runtime.logging import configure_logging

        configure_logging("gateway", args.log_level)
    except ImportError:  # pragma: no cover - the runtime ships with the same distribution
        logging.basicConfig(level=args.log_level)
    try:
        cfg = load_config(args)
        if cfg.workers > 1:
            return _supervise(argv, cfg)
        try:
            import uvloop

            uvloop.install()
        except ImportError:  # pragma: no cover - uvloop is not on Windows
            pass
        asyncio.run(run(cfg))
    except ConfigurationError as exc:
        print(f"colonnade-gateway: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
