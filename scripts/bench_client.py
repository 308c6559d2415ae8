"""A gRPC client alone: CPU per unary call, bytes in and bytes out, no HTTP and no JSON.

Run by scripts/bench.py (pinned like the gateway) against the catalog: the same method, request
bytes, concurrency and the metadata the gateway sends. `--client wire` measures the gateway's
own client (colonnade.gateway.grpcwire), the floor of its CPU per request; `--client aio`
measures grpc.aio, the client it replaced, for comparison. Prints one JSON object.

    python scripts/bench_client.py HOST:PORT REQUEST_HEX [--client wire|aio] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

METHOD = "/colonnade.catalog.v1.CatalogService/GetProduct"


METADATA = [
    (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
    (b"grpcgateway-user-agent", b"wrk"),
    (b"x-forwarded-for", b"127.0.0.1"),
    (b"x-forwarded-host", b"127.0.0.1"),
]


async def run(
    target: str, request: bytes, seconds: float, concurrency: int, client: str
) -> dict[str, float]:
    """Calls for `seconds` after a warm-up; CPU (process time) and wall time per call."""
    if client == "aio":
        import grpc

        channel: Any = grpc.aio.insecure_channel(target)
        mc = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        md = grpc.aio.Metadata(*((k.decode(), v.decode()) for k, v in METADATA))

        async def call() -> None:
            await mc(request, metadata=md, timeout=30.0)

    else:
        from colonnade.gateway.grpcwire import Channel

        channel = Channel(target, size=2)

        async def call() -> None:
            await channel.unary(METHOD, request, METADATA, 30.0)

    try:
        done = 0
        stop = 0.0

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                await call()
                done += 1

        stop = time.monotonic() + min(2.0, seconds / 2)  # warm-up
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = 0
        cpu, wall = time.process_time(), time.perf_counter()
        stop = time.monotonic() + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await channel.close()
    return {
        "calls": done,
        "calls_per_s": done / wall,
        "cpu_us_per_call": cpu / max(1, done) * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("request_hex")
    ap.add_argument("--client", choices=["wire", "aio"], default="wire")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()  # as the gateway runs
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(
        run(
            args.target,
            bytes.fromhex(args.request_hex),
            args.seconds,
            args.concurrency,
            args.client,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
