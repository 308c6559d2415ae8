"""The gateway's gRPC client alone: CPU per unary call of grpc.aio, bytes in and bytes out.

Run by scripts/bench.py (pinned like the gateway) against the catalog: the same method, request
bytes, concurrency and the metadata the gateway sends, but no HTTP and no JSON. What it
measures is the floor our gateway cannot go below while it calls backends through grpc.aio,
to set against the reference gateway's whole cost per request. Prints one JSON object.

    python scripts/bench_client.py HOST:PORT REQUEST_HEX [--seconds S] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import grpc

METHOD = "/colonnade.catalog.v1.CatalogService/GetProduct"


async def run(target: str, request: bytes, seconds: float, concurrency: int) -> dict[str, float]:
    """Calls for `seconds` after a warm-up; CPU (process time) and wall time per call."""
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        metadata = grpc.aio.Metadata(
            ("x-request-id", "0123456789abcdef0123456789abcdef"),
            ("grpcgateway-user-agent", "wrk"),
            ("x-forwarded-for", "127.0.0.1"),
            ("x-forwarded-host", "127.0.0.1"),
        )
        done = 0
        stop = 0.0

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                await call(request, metadata=metadata)
                done += 1

        stop = time.monotonic() + min(2.0, seconds / 2)  # warm-up
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = 0
        cpu, wall = time.process_time(), time.perf_counter()
        stop = time.monotonic() + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "calls": done,
        "calls_per_s": done / wall,
        "cpu_us_per_call": cpu / max(1, done) * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("request_hex")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()  # as the gateway runs
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(
        run(args.target, bytes.fromhex(args.request_hex), args.seconds, args.concurrency)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
