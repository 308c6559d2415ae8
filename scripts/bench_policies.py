#!/usr/bin/env python3
"""The edge policies' cost and the response cache's gain, measured in one run (`make bench`).

Three gateways in front of one catalog (PostgreSQL and memcached on free ports), each
`GET /v1/products/{id}` with a bearer token under wrk, rounds interleaved:

* **off**: `--no-policies`, the plain transcoder;
* **on**: authentication (ES256 token from a JWKS file; the verified-token cache in play) and
  throttling (two memcached counters per request, limits far above the load) with the
  response cache off;
* **cached**: the same plus the response cache (the product's GET is cached 30 s).

Reported: the gateway's CPU per request on ÷ off (aim ≤ 1.15) and requests per second cached
÷ on (aim ≥ 2). Writes build/bench/policies.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import (  # scripts/ is on sys.path when run as a script
    OUT,
    cpu_seconds,
    data_stores,
    ensure_tools,
    load_cpu,
    parse_wrk,
    pinned,
    seed_product,
    start_data_stores,
    start_gateway,
    summary,
)

from colonnade.runtime.auth import SigningKey, jwks_document


def wrk(url: str, token: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    """One measured wrk run: requests/s and the gateway's CPU per request."""
    header = ["-H", f"authorization: Bearer {token}"]
    c = str(args.connections)
    load_cpu(pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{args.warmup}s", *header, url]))
    before = cpu_seconds(pid)
    text, _ = load_cpu(
        pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{args.duration}s", "--latency", *header, url])
    )
    used = cpu_seconds(pid) - before
    out = parse_wrk(text)
    if out["non_2xx"]:
        raise SystemExit(f"{url}: non-2xx answers under load:\n{text}")
    out["gateway_cpu_us_per_request"] = used / max(1, out["requests"]) * 1e6
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "3")))
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    ensure_tools()
    from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
    from colonnade_tools.devstack.ports import free_port

    tmp, pg, mc = data_stores("colonnade-bench-policies-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = start_data_stores(pg, mc, ("catalog",))
        key = SigningKey.generate("bench-1")
        (tmp / "jwks.json").write_text(jwks_document([key]))
        token = key.mint("bench", ["catalog.products.write"], issuer="bench", audience="bench")
        cport = free_port()
        catalog = subprocess.Popen(
            pinned((os.cpu_count() or 1) - 1, [sys.executable, "-m", "colonnade.catalog"]),
            env={**env, "SERVICE_NAME": "catalog", "GRPC_PORT": str(cport)},
        )
        procs.append(catalog)
        target = f"127.0.0.1:{cport}"
        wait_healthy(lambda: check_grpc(target, timeout=1), 60)
        name = "/v1/" + asyncio.run(seed_product(target))[2:].decode()
        policy = [
            "--auth-jwks",
            str(tmp / "jwks.json"),
            "--auth-issuer",
            "bench",
            "--auth-audience",
            "bench",
            "--policy-cache-url",
            env["CACHE_URL"],
        ]
        # Limits far above the load: every request is counted, none refused.
        limits = {
            "COLONNADE_GATEWAY_RATE_LIMITS": "read=1000000/60000000,write=1/1,"
            "standard=1/1,internal=1/1"
        }
        variants = {
            "off": (["--no-policies"], {}),
            "on": (policy, {**limits, "COLONNADE_GATEWAY_RESPONSE_CACHE": "false"}),
            "cached": (policy, limits),
        }
        ports: dict[str, int] = {}
        pids: dict[str, int] = {}
        for label, (flags, extra_env) in variants.items():
            ports[label] = free_port()
            proc = start_gateway(target, ports[label], 1, {**env, **extra_env}, tuple(flags))
            procs.append(proc)
            pids[label] = proc.pid
            readyz = f"http://127.0.0.1:{ports[label]}/readyz"
            wait_healthy(functools.partial(check_http, readyz, timeout=1), 60)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
        load_before = os.getloadavg()
        for i in range(args.repeats):
            print(f"round {i + 1}/{args.repeats}", flush=True)
            for label in variants:
                url = f"http://127.0.0.1:{ports[label]}{name}"
                runs[label].append(wrk(url, token, pids[label], args))
        load_after = os.getloadavg()
        stats = {
            label: {
                "requests_per_second": summary([r["rps"] for r in rs]),
                "gateway_cpu_us_per_request": summary(
                    [r["gateway_cpu_us_per_request"] for r in rs]
                ),
            }
            for label, rs in runs.items()
        }

        def med(label: str, key: str) -> float:
            return float(stats[label][key]["median"])

        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "loadavg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            "method": f"GET {name} with a bearer token (GetProduct: public, cached 30 s)",
            "duration_s": args.duration,
            "repeats": args.repeats,
            "connections": args.connections,
            "variants": stats,
            "cpu_per_request_on_over_off": med("on", "gateway_cpu_us_per_request")
            / med("off", "gateway_cpu_us_per_request"),
            "throughput_cached_over_on": med("cached", "requests_per_second")
            / med("on", "requests_per_second"),
            "throughput_cached_over_off": med("cached", "requests_per_second")
            / med("off", "requests_per_second"),
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "policies.json").write_text(json.dumps(report, indent=2) + "\n")
        lines = [
            "# Edge policies: cost and cache gain",
            "",
            f"{report['method']}; {args.repeats} interleaved rounds of {args.duration} s, "
            f"{args.connections} connections, load average {report['loadavg_1m_before_after']}.",
            "",
            "| gateway | requests/s (median, min-max) | gateway CPU µs/request |",
            "| --- | --- | --- |",
        ]
        for label, st in stats.items():
            rps, cpu = st["requests_per_second"], st["gateway_cpu_us_per_request"]
            lines.append(
                f"| {label} | {rps['median']:.0f} ({rps['min']:.0f}-{rps['max']:.0f}) | "
                f"{cpu['median']:.0f} ({cpu['min']:.0f}-{cpu['max']:.0f}) |"
            )
        lines += [
            "",
            f"CPU per request, auth + throttling on ÷ off: "
            f"**{report['cpu_per_request_on_over_off']:.2f}x** (aim ≤ 1.15)",
            f"Throughput, cached ÷ uncached (policies on): "
            f"**{report['throughput_cached_over_on']:.2f}x** (aim ≥ 2); "
            f"cached ÷ plain transcoder: {report['throughput_cached_over_off']:.2f}x",
        ]
        (OUT / "policies.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        mc.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())
