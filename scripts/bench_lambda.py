#!/usr/bin/env python3
"""`make bench`, serverless: the Lambda handler's cold start and warm CPU per request, against
the gateway's CPU per request for the same GET.

Starts PostgreSQL and memcached (devstack helpers) on free ports, the catalog service and the
REST gateway as processes (the container path), seeds one product, and measures:

* **gateway**: ``--requests`` sequential keep-alive `GET /v1/products/{id}` (one client, as one
  Lambda execution environment serves one request at a time); CPU per request of the gateway
  process and of the catalog process, from /proc/<pid>/stat;
* **handler**: the `make lambda` zip unpacked into a clean virtualenv; a fresh interpreter
  imports `colonnade.serverless` and answers the first event (the cold start: import + first
  event, wall and CPU, the best and median of ``--cold-runs``), then answers the same GET as an
  API Gateway REST event ``--requests`` times (warm CPU per request, process CPU time).

Reports the ratio handler / gateway (the issue's aim: at most 1.0: no HTTP parsing, no network
hop) and handler / (gateway + catalog) (the whole container path the handler replaces), in
build/bench/lambda.json and build/bench/lambda.md. Numbers on a shared machine vary; it never
fails on them. Not measured here: Lambda's own runtime start (the sandbox, the runtime
interface client) before the import, and the network to RDS Proxy and ElastiCache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Any

from bench import (  # scripts/ is on sys.path when run as a script
    cpu_seconds,
    data_stores,
    pinned,
    seed_product,
    start_data_stores,
    start_gateway,
    tear_down,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "bench"

CHILD = r"""
import json, sys, time
cpu0, wall0 = time.process_time(), time.perf_counter()
sys.path.insert(0, sys.argv[1])
requests = int(sys.argv[2])
event = json.loads(sys.stdin.read())

class Context:
    def get_remaining_time_in_millis(self):
        return 29_000

import colonnade.serverless as fn
imported = (time.process_time() - cpu0, time.perf_counter() - wall0)
first = fn.handler(event, Context())
assert first["statusCode"] == 200, first
cold = (time.process_time() - cpu0, time.perf_counter() - wall0)
for _ in range(min(200, requests)):  # warm-up, as the gateway side gets
    fn.handler(event, Context())
cpu1 = time.process_time()
r = first
for _ in range(requests):
    r = fn.handler(event, Context())
assert r["statusCode"] == 200
warm = (time.process_time() - cpu1) / max(1, requests)
print(json.dumps({"import_cpu": imported[0], "import_wall": imported[1],
                  "cold_cpu": cold[0], "cold_wall": cold[1], "warm_cpu": warm}))
"""


async def gateway_requests(port: int, path: str, n: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = f"GET {path} HTTP/1.1\r\nhost: bench\r\n\r\n".encode()
    try:
        for _ in range(n):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head[:80]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
    finally:
        writer.close()


def clean_python(tmp: Path) -> tuple[Path, Path]:
    """The `make lambda` zip unpacked next to an empty virtualenv: (its python, the task)."""
    sys.path.insert(0, str(ROOT / "tools"))
    from colonnade_tools.lambda_zip import build

    built = build("3.11", "x86_64")
    print(built.summary(), flush=True)
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(tmp / "task")
    venv.EnvBuilder(with_pip=False).create(tmp / "venv")
    return tmp / "venv" / "bin" / "python", tmp / "task"


def handler_run(
    python: Path, task: Path, env: dict[str, str], event: dict[str, Any], requests: int
) -> dict[str, float]:
    result = subprocess.run(
        pinned(0, [str(python), "-I", "-c", CHILD, str(task), str(requests)]),
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"handler run failed: {result.stderr[-2000:]}")
    out: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    from colonnade_tools.devstack.ports import free_port

    tmp, pg, mc = data_stores("colonnade-bench-lambda-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = start_data_stores(pg, mc, ("catalog", "orders"))
        grpc_port, http_port = free_port(), free_port()
        catalog = subprocess.Popen(
            pinned(1, [sys.executable, "-m", "colonnade.catalog"]),
            env={**env, "GRPC_PORT": str(grpc_port), "DB_MIGRATE": "false"},
        )
        procs.append(catalog)
        wait_port(grpc_port)
        target = f"127.0.0.1:{grpc_port}"
        gateway = start_gateway(target, http_port, 1, env)
        procs.append(gateway)
        wait_port(http_port)
        from colonnade.catalog.v1 import catalog_pb2

        name = catalog_pb2.GetProductRequest.FromString(asyncio.run(seed_product(target))).name
        path = f"/v1/{name}"

        asyncio.run(gateway_requests(http_port, path, 200))  # warm-up
        gw0, cat0 = cpu_seconds(gateway.pid), cpu_seconds(catalog.pid)
        asyncio.run(gateway_requests(http_port, path, args.requests))
        gw_cpu = (cpu_seconds(gateway.pid) - gw0) / args.requests
        cat_cpu = (cpu_seconds(catalog.pid) - cat0) / args.requests

        python, task = clean_python(tmp)
        event = {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": "GET",
            "headers": {"host": "api.example"},
            "multiValueHeaders": {"host": ["api.example"]},
            "requestContext": {"stage": "prod", "identity": {"sourceIp": "203.0.113.7"}},
            "body": None,
            "isBase64Encoded": False,
        }
        fn_env = {
            "PATH": env["PATH"],
            "DATABASE_URL": env["DATABASE_URL"],
            "CACHE_URL": env["CACHE_URL"],
            "DB_MIGRATE": "false",
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "1",
            "LOG_ACCESS": "false",
            "LOG_LEVEL": "WARNING",
            "COLONNADE_GATEWAY_POLICIES": "false",
        }
        warm = handler_run(python, task, fn_env, event, args.requests)
        colds = [warm] + [
            handler_run(python, task, fn_env, event, 0) for _ in range(args.cold_runs - 1)
        ]
    finally:
        tear_down(procs, tmp, pg, mc)

    def ms(key: str) -> dict[str, float]:
        values = [1000 * c[key] for c in colds]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    report = {
        "requests": args.requests,
        "gateway_cpu_us": 1e6 * gw_cpu,
        "catalog_cpu_us": 1e6 * cat_cpu,
        "handler_warm_cpu_us": 1e6 * warm["warm_cpu"],
        "ratio_vs_gateway": warm["warm_cpu"] / gw_cpu,
        "ratio_vs_gateway_plus_catalog": warm["warm_cpu"] / (gw_cpu + cat_cpu),
        "cold_start_ms": ms("cold_wall"),
        "cold_start_cpu_ms": ms("cold_cpu"),
        "import_ms": ms("import_wall"),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lambda.json").write_text(json.dumps(report, indent=2) + "\n")
    md = markdown(report)
    (OUT / "lambda.md").write_text(md)
    print(md)
    return 0


def markdown(r: dict[str, Any]) -> str:
    c, i, cc = r["cold_start_ms"], r["import_ms"], r["cold_start_cpu_ms"]
    return (
        "# Lambda handler vs gateway (GET /v1/products/{id})\n\n"
        "| measure | value |\n| --- | --- |\n"
        f"| cold start (import + first event), wall ms | {c['median']:.0f} "
        f"(min {c['min']:.0f}, max {c['max']:.0f}) |\n"
        f"| cold start CPU ms | {cc['median']:.0f} |\n"
        f"| of which import, wall ms | {i['median']:.0f} |\n"
        f"| warm handler CPU µs/request | {r['handler_warm_cpu_us']:.0f} |\n"
        f"| gateway CPU µs/request | {r['gateway_cpu_us']:.0f} |\n"
        f"| catalog CPU µs/request | {r['catalog_cpu_us']:.0f} |\n"
        f"| handler / gateway | {r['ratio_vs_gateway']:.2f} |\n"
        f"| handler / (gateway + catalog) | {r['ratio_vs_gateway_plus_catalog']:.2f} |\n"
    )


if __name__ == "__main__":
    sys.exit(main())
