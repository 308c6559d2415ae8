#!/usr/bin/env python3
"""`make bench`: REST through the gateway vs direct gRPC on the same catalog method.

One run on this machine, placement "backend-bound" (docs: performance anchors): the catalog
service pinned to the last CPU, the gateway and the load generators pinned to CPU 0. Measures

* direct gRPC `GetProduct` with h2load (hand-made gRPC frames), latency from its per-request log;
* `GET /v1/products/{id}` through the gateway with wrk;
* CPU microseconds per request of the gateway and the catalog processes (from /proc/<pid>/stat);
* the JSON converters against json_format on the catalog's Product (µs per call).

It starts its own PostgreSQL and memcached (devstack helpers) on free ports, seeds one product,
and writes build/bench/gateway.json and build/bench/gateway.md. wrk and h2load come from Debian
(`apt-get install -y wrk nghttp2-client`, done here when missing and allowed). A compiled
reference gateway (grpc-gateway, Go) is built only when Go is installed; the report says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTORS = ROOT / "services/colonnade/descriptors/colonnade.binpb"
OUT = ROOT / "build" / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ensure_tools() -> None:
    missing = [t for t in ("wrk", "h2load") if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(f"bench needs {missing}: apt-get install -y wrk nghttp2-client")
    print(f"installing {missing} with apt-get", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk", "nghttp2-client"], check=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def pinned(cpu: int, args: list[str]) -> list[str]:
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        return ["taskset", "-c", str(cpu), *args]
    return args


def wait_port(port: int, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port} after {timeout}s")


def parse_wrk(text: str) -> dict[str, Any]:
    def to_ms(value: str) -> float:
        m = re.match(r"([\d.]+)(us|ms|s)", value)
        assert m, value
        n = float(m.group(1))
        return {"us": n / 1000, "ms": n, "s": n * 1000}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", text).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests": total,
        "rps": rps,
        "p50_ms": to_ms(pct["50"]),
        "p99_ms": to_ms(pct["99"]),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


def parse_h2load(text: str, log_file: Path) -> dict[str, Any]:
    m = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", text)
    assert m, text
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", text)
    assert done, text
    durations = []
    for line in log_file.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1] == "200":
            durations.append(int(parts[2]) / 1000)
    durations.sort()
    q = statistics.quantiles(durations, n=100) if len(durations) > 100 else [0.0] * 99
    return {
        "requests": int(done.group(1)),
        "succeeded": int(done.group(2)),
        "rps": float(m.group(3)),
        "p50_ms": q[49],
        "p99_ms": q[98],
    }


def grpc_frame(message: bytes) -> bytes:
    return b"\x00" + struct.pack(">I", len(message)) + message


def converter_bench() -> dict[str, Any]:
    """µs per Product: compiled converters vs json_format, both directions."""
    from google.protobuf import json_format

    from colonnade.catalog.v1 import catalog_pb2
    from colonnade.gateway.descriptors import load_registry
    from colonnade.gateway.jsonconv import Converters

    reg = load_registry([DESCRIPTORS])
    conv = Converters(reg)
    cls = reg.message_class_by_name("colonnade.catalog.v1.Product")
    gen = catalog_pb2.Product(
        name="products/lamp",
        sku="SKU-1",
        title="Desk lamp",
        description="A lamp" * 5,
        category="lighting",
        stock=12,
        etag="abc123",
    )
    gen.price.currency_code = "EUR"
    gen.price.units = 49
    gen.price.nanos = 990000000
    gen.create_time.FromSeconds(1_700_000_000)
    gen.update_time.FromSeconds(1_700_000_100)
    msg = cls.FromString(gen.SerializeToString())
    as_dict = json_format.MessageToDict(gen)
    enc = conv.encoder(msg.DESCRIPTOR)
    dec = conv.decoder(msg.DESCRIPTOR)
    n = 20000

    def per_call(fn: Any) -> float:
        return min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6

    out = {
        "to_json_compiled_us": per_call(lambda: enc(msg)),
        "to_json_json_format_us": per_call(
            lambda: json_format.MessageToDict(gen, always_print_fields_with_no_presence=True)
        ),
        "from_json_compiled_us": per_call(lambda: dec(as_dict, "")),
        "from_json_json_format_us": per_call(
            lambda: json_format.ParseDict(as_dict, catalog_pb2.Product())
        ),
    }
    out["to_json_ratio"] = out["to_json_compiled_us"] / out["to_json_json_format_us"]
    out["from_json_ratio"] = out["from_json_compiled_us"] / out["from_json_json_format_us"]
    return out


async def seed_product(target: str) -> bytes:
    import grpc

    from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc

    async with grpc.aio.insecure_channel(target) as ch:
        stub = catalog_pb2_grpc.CatalogServiceStub(ch)
        product = catalog_pb2.Product(sku=f"BENCH-{os.getpid()}", title="Bench lamp", stock=7)
        product.price.currency_code = "EUR"
        product.price.units = 10
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=product, product_id=f"bench-{os.getpid()}")
        )
        req = catalog_pb2.GetProductRequest(name=created.name)
        await stub.GetProduct(req)  # warm the cache
        return req.SerializeToString()


def measure(pid: int, fn: Any) -> tuple[Any, float]:
    before = cpu_seconds(pid)
    result = fn()
    return result, cpu_seconds(pid) - before


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--gateway-workers", type=int, default=1)
    args = ap.parse_args()
    ensure_tools()
    sys.path.insert(0, str(ROOT / "services"))
    from colonnade.devstack.memcached import MemcachedServer
    from colonnade.devstack.ports import free_port
    from colonnade.devstack.postgres import PostgresServer

    ncpu = os.cpu_count() or 1
    backend_cpu = ncpu - 1
    tmp = Path(tempfile.mkdtemp(prefix="colonnade-bench-"))
    pg = PostgresServer(tmp / "pg", free_port(), durable=False)
    mc = MemcachedServer(free_port())
    procs: list[subprocess.Popen[bytes]] = []
    try:
        pg.start()
        pg.create_database("bench")
        mc.start()
        env = {
            **os.environ,
            "DATABASE_URL": pg.url("bench"),
            "CACHE_URL": mc.url,
            "GRPC_HOST": "127.0.0.1",
            "LOG_ACCESS": "false",
            "LOG_LEVEL": "WARNING",
        }

        async def prepare() -> None:
            from colonnade.runtime.db import migrate, wait_for_database
            from colonnade.runtime.settings import Settings

            settings = Settings.from_env(env, service_name="bench")
            await wait_for_database(settings)
            await migrate(settings, "catalog", "colonnade.catalog.migrations")

        asyncio.run(prepare())
        cport, gport = free_port(), free_port()
        catalog = subprocess.Popen(
            pinned(backend_cpu, [sys.executable, "-m", "colonnade.catalog"]),
            env={**env, "SERVICE_NAME": "catalog", "GRPC_PORT": str(cport)},
        )
        procs.append(catalog)
        wait_port(cport)
        target = f"127.0.0.1:{cport}"
        request_bytes = asyncio.run(seed_product(target))
        name = "/v1/" + request_bytes[2:].decode()
        gateway = subprocess.Popen(
            pinned(
                0,
                [
                    sys.executable,
                    "-m",
                    "colonnade.gateway",
                    "--descriptors",
                    str(DESCRIPTORS),
                    "--backend",
                    f"colonnade.catalog.v1.CatalogService={target}",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(gport),
                    "--workers",
                    str(args.gateway_workers),
                    "--log-level",
                    "WARNING",
                ],
            ),
            env=env,
        )
        procs.append(gateway)
        wait_port(gport)
        frame = tmp / "get.bin"
        frame.write_bytes(grpc_frame(request_bytes))
        d, c = args.duration, args.connections
        # catalog PID: taskset execs, so the Popen pid is the python process
        cat_pid = catalog.pid
        gw_pid = gateway.pid

        def run_h2load() -> dict[str, Any]:
            log = tmp / "h2load.log"
            text = subprocess.run(
                pinned(
                    0,
                    [
                        "h2load",
                        "-c",
                        "4",
                        "-m",
                        str(max(1, c // 4)),
                        "-D",
                        str(d),
                        "--warm-up-time",
                        "2",
                        "-H",
                        "content-type: application/grpc",
                        "-H",
                        "te: trailers",
                        "-d",
                        str(frame),
                        "--log-file",
                        str(log),
                        f"http://{target}/colonnade.catalog.v1.CatalogService/GetProduct",
                    ],
                ),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return parse_h2load(text, log)

        def run_wrk() -> dict[str, Any]:
            subprocess.run(  # warm-up
                pinned(0, ["wrk", "-t1", f"-c{c}", "-d2s", f"http://127.0.0.1:{gport}{name}"]),
                capture_output=True,
                check=True,
            )
            text = subprocess.run(
                pinned(
                    0,
                    [
                        "wrk",
                        "-t1",
                        f"-c{c}",
                        f"-d{d}s",
                        "--latency",
                        f"http://127.0.0.1:{gport}{name}",
                    ],
                ),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return parse_wrk(text)

        # check the gateway answers before measuring it
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{gport}{name}", timeout=10) as r:
            sample = json.loads(r.read())
        direct, direct_cat_cpu = measure(cat_pid, run_h2load)
        cat_before, gw_before = cpu_seconds(cat_pid), cpu_seconds(gw_pid)
        rest = run_wrk()
        rest_cat_cpu = cpu_seconds(cat_pid) - cat_before
        gw_cpu = cpu_seconds(gw_pid) - gw_before
        # wrk's warm-up requests are not in its count; estimate the measured share by time
        measured_gw_cpu = gw_cpu * d / (d + 2)
        measured_cat_cpu = rest_cat_cpu * d / (d + 2)
        direct["catalog_cpu_us_per_request"] = direct_cat_cpu / max(1, direct["requests"]) * 1e6
        rest["catalog_cpu_us_per_request"] = measured_cat_cpu / max(1, rest["requests"]) * 1e6
        rest["gateway_cpu_us_per_request"] = measured_gw_cpu / max(1, rest["requests"]) * 1e6
        conv = converter_bench()
        go = shutil.which("go")
        report = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {
                "cpus": ncpu,
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "placement": f"catalog on CPU {backend_cpu}; gateway, wrk and h2load on CPU 0",
            "method": "colonnade.catalog.v1.CatalogService/GetProduct (cached product)",
            "duration_s": d,
            "connections": c,
            "gateway_workers": args.gateway_workers,
            "sample_response": sample,
            "direct_grpc": direct,
            "rest_via_gateway": rest,
            "throughput_ratio": rest["rps"] / direct["rps"],
            "converters": conv,
            "reference_gateway": (
                "Go found but building grpc-gateway is not automated yet"
                if go
                else "Go is not installed: no compiled reference gateway was built"
            ),
        }
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "gateway.json").write_text(json.dumps(report, indent=2) + "\n")
        (OUT / "gateway.md").write_text(markdown(report))
        print(markdown(report))
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        mc.stop()
        pg.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def markdown(r: dict[str, Any]) -> str:
    d, g, c = r["direct_grpc"], r["rest_via_gateway"], r["converters"]
    return "\n".join(
        [
            "# Gateway benchmark",
            "",
            f"{r['when']} · {r['machine']['cpus']} CPUs · Python {r['machine']['python']} · "
            f"{r['duration_s']} s per run · {r['connections']} connections · "
            f"{r['gateway_workers']} gateway worker(s)",
            "",
            f"Method: {r['method']}. Placement: {r['placement']}.",
            "",
            "| path | req/s | p50 ms | p99 ms | gateway CPU µs/req | catalog CPU µs/req |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| direct gRPC (h2load) | {d['rps']:.0f} | {d['p50_ms']:.2f} | {d['p99_ms']:.2f} | - "
            f"| {d['catalog_cpu_us_per_request']:.0f} |",
            f"| REST via gateway (wrk) | {g['rps']:.0f} | {g['p50_ms']:.2f} | {g['p99_ms']:.2f} "
            f"| {g['gateway_cpu_us_per_request']:.0f} | {g['catalog_cpu_us_per_request']:.0f} |",
            "",
            f"Throughput ratio REST/gRPC: **{r['throughput_ratio']:.2f}** (target ≥ 0.9 when the "
            "backend is the bottleneck).",
            "",
            "JSON converters on a catalog Product (µs per call, best of 5):",
            "",
            "| direction | compiled | json_format | ratio |",
            "| --- | ---: | ---: | ---: |",
            f"| proto → JSON | {c['to_json_compiled_us']:.2f} | {c['to_json_json_format_us']:.2f} "
            f"| {c['to_json_ratio']:.2f} |",
            f"| JSON → proto | {c['from_json_compiled_us']:.2f} "
            f"| {c['from_json_json_format_us']:.2f} "
            f"| {c['from_json_ratio']:.2f} |",
            "",
            f"Reference gateway: {r['reference_gateway']}.",
            "",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
