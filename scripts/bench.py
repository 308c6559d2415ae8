#!/usr/bin/env python3
"""`make bench`: REST through the gateway vs direct gRPC on the same catalog method.

One run on this machine, placement "backend-bound" (docs: performance anchors): the catalog
service pinned to the last CPU, the gateways and the load generators pinned to CPU 0. Measures,
in interleaved rounds (median and range reported):

* direct gRPC `GetProduct` with h2load (hand-made gRPC frames), latency from its per-request log;
* `GET /v1/products/{id}` through our gateway with wrk, with its own gRPC client and again with
  `COLONNADE_GATEWAY_GRPC_CLIENT=grpcio` (the grpc.aio escape hatch: what switching costs);
* the same through grpc-gateway v1.6.4 (Go), the compiled reference, built offline from Debian's
  packages by scripts/bench_goref.py into build/bench/goref (installed with apt-get when missing
  and running as root; otherwise the report says what is missing);
* CPU microseconds per request of each gateway and of the catalog (from /proc/<pid>/stat), and
  the load generators' CPU share (wait4 rusage);
* the JSON converters against json_format on the catalog's Product (µs per call).

It starts its own PostgreSQL and memcached (devstack helpers) on free ports, seeds one product,
and writes build/bench/gateway.json and build/bench/gateway.md. wrk and h2load come from Debian
(`apt-get install -y wrk nghttp2-client`, done here when missing and allowed). `--serve` starts
everything and waits, for profiling by hand (py-spy, perf) under your own load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

from colonnade.descriptors import descriptor_set

ROOT = Path(__file__).resolve().parent.parent
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

    reg = load_registry([descriptor_set()])
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
    desc: Any = msg.DESCRIPTOR  # the registry pool's (types-protobuf: a Python/upb union)
    enc = conv.encoder(desc)
    dec = conv.decoder(desc)
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


def data_stores(prefix: str) -> tuple[Path, Any, Any]:
    """A temporary folder, and a throwaway PostgreSQL (in it) and memcached on free ports."""
    from colonnade_tools.devstack.memcached import MemcachedServer
    from colonnade_tools.devstack.ports import free_port
    from colonnade_tools.devstack.postgres import PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    return tmp, PostgresServer(tmp / "pg", free_port(), durable=False), MemcachedServer(free_port())


def start_data_stores(pg: Any, mc: Any, services: tuple[str, ...]) -> dict[str, str]:
    """Start both, apply ``services``' migrations; the environment the services run with."""
    from colonnade.runtime.db import migrate, wait_for_database
    from colonnade.runtime.settings import Settings

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
        settings = Settings.from_env(env, service_name="bench")
        await wait_for_database(settings)
        for name in services:
            await migrate(settings, name, f"colonnade.{name}.migrations")

    asyncio.run(prepare())
    return env


def tear_down(procs: list[subprocess.Popen[bytes]], tmp: Path, pg: Any, mc: Any) -> None:
    """Stop ``procs`` (last started first), then memcached and PostgreSQL; remove ``tmp``."""
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


def summary(values: list[float]) -> dict[str, float]:
    """Median and range of repeated measurements."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def write_report(name: str, report: dict[str, Any], md: str) -> None:
    """build/bench/NAME.json and NAME.md, and the markdown on stdout."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (OUT / f"{name}.md").write_text(md)
    print(md)


def load_cpu(cmd: list[str]) -> tuple[str, float]:
    """Runs a load generator; returns its stdout and the CPU seconds it used (wait4 rusage)."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {text[-400:]}")
    return text, usage.ru_utime + usage.ru_stime


class Bench:
    """The processes under test and the measurements on them."""

    def __init__(self, args: argparse.Namespace, tmp: Path, target: str, frame: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.target = target
        self.frame = frame

    def h2load(self, cat_pid: int) -> dict[str, Any]:
        d, c = self.args.duration, self.args.connections
        log = self.tmp / "h2load.log"
        before = cpu_seconds(cat_pid)
        text, gen_cpu = load_cpu(
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
                    str(self.args.warmup),
                    "-H",
                    "content-type: application/grpc",
                    "-H",
                    "te: trailers",
                    "-d",
                    str(self.frame),
                    "--log-file",
                    str(log),
                    f"http://{self.target}/colonnade.catalog.v1.CatalogService/GetProduct",
                ],
            )
        )
        cat_cpu = cpu_seconds(cat_pid) - before
        out = parse_h2load(text, log)
        # h2load's warm-up is not in its count: charge the measured share by time
        share = d / (d + self.args.warmup)
        out["catalog_cpu_us_per_request"] = cat_cpu * share / max(1, out["requests"]) * 1e6
        out["loadgen_cpu_share"] = gen_cpu / (d + self.args.warmup)
        return out

    def client_alone(self, request: bytes, client: str) -> dict[str, Any]:
        """A gRPC client's CPU per call with no HTTP and no JSON (scripts/bench_client.py)."""
        text, _ = load_cpu(
            pinned(
                0,
                [
                    sys.executable,
                    str(ROOT / "scripts" / "bench_client.py"),
                    self.target,
                    request.hex(),
                    "--client",
                    client,
                    "--seconds",
                    str(self.args.duration),
                    "--concurrency",
                    str(self.args.connections),
                ],
            )
        )
        return json.loads(text.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def wrk(self, url: str, gw_pid: int, cat_pid: int) -> dict[str, Any]:
        d, c = self.args.duration, self.args.connections
        load_cpu(pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{self.args.warmup}s", url]))
        cat_before, gw_before = cpu_seconds(cat_pid), cpu_seconds(gw_pid)
        text, gen_cpu = load_cpu(pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{d}s", "--latency", url]))
        cat_cpu = cpu_seconds(cat_pid) - cat_before
        gw_cpu = cpu_seconds(gw_pid) - gw_before
        out = parse_wrk(text)
        n = max(1, out["requests"])
        out["gateway_cpu_us_per_request"] = gw_cpu / n * 1e6
        out["catalog_cpu_us_per_request"] = cat_cpu / n * 1e6
        out["loadgen_cpu_share"] = gen_cpu / d
        return out


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float))]
    return {k: summary([float(r[k]) for r in runs]) for k in keys}


def start_gateway(
    target: str,
    port: int,
    workers: int,
    env: dict[str, str],
    # the transcoder alone, as the Go reference: bench_policies.py measures the edge
    # policies' cost against exactly this
    extra: tuple[str, ...] = ("--no-policies",),
) -> Any:
    return subprocess.Popen(
        pinned(
            0,
            [
                sys.executable,
                "-m",
                "colonnade.gateway",
                "--descriptors",
                str(descriptor_set()),
                "--backend",
                f"colonnade.catalog.v1.CatalogService={target}",
                "--backend",
                f"colonnade.catalog.v2.CatalogService={target}",
                # The gateway wants a backend for every service it finds; these benchmarks call
                # catalog only, so orders is mapped to the same address and never called.
                "--backend",
                f"colonnade.orders.v1.OrdersService={target}",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "WARNING",
                *extra,
            ],
        ),
        env=env,
    )


def get_json(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load per run")
    ap.add_argument(
        "--repeats",
        type=int,
        default=int(os.environ.get("BENCH_REPEATS", "5")),
        help="runs per path, interleaved (ours, reference, ours, …); median and range reported",
    )
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--gateway-workers", type=int, default=1)
    ap.add_argument("--no-reference", action="store_true", help="skip the Go reference gateway")
    ap.add_argument(
        "--serve",
        action="store_true",
        help="start everything, print the URLs and PIDs and wait (for profiling by hand)",
    )
    args = ap.parse_args()
    ensure_tools()
    import bench_goref  # scripts/ is on sys.path (run as a script)

    from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
    from colonnade_tools.devstack.ports import free_port

    reference: dict[str, Any] = {"built": False}
    ref_binary: Path | None = None
    if args.no_reference:
        reference["note"] = "skipped (--no-reference)"
    else:
        why_not = bench_goref.ensure_toolchain()
        if why_not is None:
            try:
                started = time.monotonic()
                ref_binary = bench_goref.build(OUT / "goref")
                reference.update(
                    built=True,
                    build_seconds=round(time.monotonic() - started, 1),
                    packages=bench_goref.versions(),
                    note="grpc-gateway v1.6.4 (Debian), built offline in GOPATH mode by "
                    "scripts/bench_goref.py on a wire-compatible catalog proto; "
                    "JSONPb{OrigName: false, EmitDefaults: true}",
                )
            except (subprocess.CalledProcessError, OSError) as exc:
                reference["note"] = f"not built: the Go build failed: {exc}"
        else:
            reference["note"] = why_not
        print(f"reference gateway: {reference['note']}", flush=True)

    ncpu = os.cpu_count() or 1
    backend_cpu = ncpu - 1
    load_before = os.getloadavg()
    tmp, pg, mc = data_stores("colonnade-bench-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = start_data_stores(pg, mc, ("catalog",))
        cport, gport, rport = free_port(), free_port(), free_port()
        catalog = subprocess.Popen(
            pinned(backend_cpu, [sys.executable, "-m", "colonnade.catalog"]),
            env={**env, "SERVICE_NAME": "catalog", "GRPC_PORT": str(cport)},
        )
        procs.append(catalog)
        wait_healthy(lambda: check_grpc(f"127.0.0.1:{cport}", timeout=1), 60)
        target = f"127.0.0.1:{cport}"
        request_bytes = asyncio.run(seed_product(target))
        name = "/v1/" + request_bytes[2:].decode()
        gateway = start_gateway(target, gport, args.gateway_workers, env)
        procs.append(gateway)
        aport = free_port()
        aio_gateway = start_gateway(
            target, aport, args.gateway_workers, {**env, "COLONNADE_GATEWAY_GRPC_CLIENT": "grpcio"}
        )
        procs.append(aio_gateway)
        for port in (gport, aport):
            readyz = f"http://127.0.0.1:{port}/readyz"
            wait_healthy(functools.partial(check_http, readyz, timeout=1), 60)
        ours_url = f"http://127.0.0.1:{gport}{name}"
        aio_url = f"http://127.0.0.1:{aport}{name}"
        ref_url = f"http://127.0.0.1:{rport}{name}"
        ref = None
        if ref_binary is not None:
            ref = subprocess.Popen(
                pinned(0, [str(ref_binary), "-listen", f"127.0.0.1:{rport}", "-backend", target])
            )
            procs.append(ref)
            wait_port(rport)
        frame = tmp / "get.bin"
        frame.write_bytes(grpc_frame(request_bytes))
        # taskset execs: the Popen pids are the server processes themselves
        cat_pid, gw_pid = catalog.pid, gateway.pid
        sample = get_json(ours_url)
        if get_json(aio_url) != sample:
            raise SystemExit("the gateway answers differently with the grpcio client")
        if ref is not None:
            ref_sample = get_json(ref_url)
            reference["same_json"] = ref_sample == sample
            if ref_sample != sample:
                reference["sample_response"] = ref_sample
        if args.serve:
            print(f"catalog {target} pid {cat_pid}\nours {ours_url} pid {gw_pid}", flush=True)
            if ref is not None:
                print(f"reference {ref_url} pid {ref.pid}", flush=True)
            print("serving; Ctrl-C or SIGTERM to stop", flush=True)
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0

        bench = Bench(args, tmp, target, frame)
        direct_runs, ours_runs, ref_runs, wire_runs, aio_runs = [], [], [], [], []
        grpcio_runs: list[dict[str, Any]] = []
        for i in range(args.repeats):
            print(f"round {i + 1}/{args.repeats}", flush=True)
            direct_runs.append(bench.h2load(cat_pid))
            ours_runs.append(bench.wrk(ours_url, gw_pid, cat_pid))
            grpcio_runs.append(bench.wrk(aio_url, aio_gateway.pid, cat_pid))
            if ref is not None:
                ref_runs.append(bench.wrk(ref_url, ref.pid, cat_pid))
            wire_runs.append(bench.client_alone(request_bytes, "wire"))
            aio_runs.append(bench.client_alone(request_bytes, "aio"))
        load_after = os.getloadavg()
        direct, rest = summarize_runs(direct_runs), summarize_runs(ours_runs)
        report: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {
                "cpus": ncpu,
                "python": platform.python_version(),
                "platform": platform.platform(),
                "loadavg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
            },
            "versions": versions(),
            "placement": f"catalog on CPU {backend_cpu}; gateways, wrk and h2load on CPU 0",
            "method": "colonnade.catalog.v1.CatalogService/GetProduct (cached product)",
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "connections": args.connections,
            "gateway_workers": args.gateway_workers,
            "sample_response": sample,
            "direct_grpc": direct,
            "rest_via_gateway": rest,
            "rest_via_gateway_grpcio_client": summarize_runs(grpcio_runs),
            "throughput_ratio": rest["rps"]["median"] / direct["rps"]["median"],
            "reference_gateway": reference,
            "grpcwire_client_alone": summarize_runs(wire_runs),
            "grpc_aio_client_alone": summarize_runs(aio_runs),
            "runs": {
                "direct_grpc": direct_runs,
                "rest_via_gateway": ours_runs,
                "rest_via_gateway_grpcio_client": grpcio_runs,
                "grpcwire_client_alone": wire_runs,
                "grpc_aio_client_alone": aio_runs,
            },
        }
        if ref_runs:
            refs = summarize_runs(ref_runs)
            pairs = [
                o["gateway_cpu_us_per_request"] / r["gateway_cpu_us_per_request"]
                for o, r in zip(ours_runs, ref_runs, strict=True)
            ]
            report["rest_via_reference"] = refs
            report["runs"]["rest_via_reference"] = ref_runs
            report["cpu_ratio_vs_reference"] = {
                "median_of_medians": rest["gateway_cpu_us_per_request"]["median"]
                / refs["gateway_cpu_us_per_request"]["median"],
                "per_round": summary(pairs),
                "target": 1.2,
            }
        report["converters"] = converter_bench()
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "gateway.json").write_text(json.dumps(report, indent=2) + "\n")
        (OUT / "gateway.md").write_text(markdown(report))
        print(markdown(report))
        return 0
    finally:
        tear_down(procs, tmp, pg, mc)


def versions() -> dict[str, str]:
    import grpc
    from google.protobuf import __version__ as pb_version
    from google.protobuf.internal import api_implementation

    out = {"grpcio": grpc.__version__, "protobuf": pb_version}
    out["protobuf_backend"] = api_implementation.Type()
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        out["uvloop"] = importlib.metadata.version("uvloop")
    return out


def _fmt(s: dict[str, float], digits: int = 0) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


def markdown(r: dict[str, Any]) -> str:
    d, g, c = r["direct_grpc"], r["rest_via_gateway"], r["converters"]
    ref = r["reference_gateway"]
    rows = [
        f"| direct gRPC (h2load) | {_fmt(d['rps'])} | {_fmt(d['p50_ms'], 2)} "
        f"| {_fmt(d['p99_ms'], 2)} | - | {_fmt(d['catalog_cpu_us_per_request'])} "
        f"| {_fmt(d['loadgen_cpu_share'], 2)} |",
        f"| REST via our gateway (wrk) | {_fmt(g['rps'])} | {_fmt(g['p50_ms'], 2)} "
        f"| {_fmt(g['p99_ms'], 2)} | **{_fmt(g['gateway_cpu_us_per_request'])}** "
        f"| {_fmt(g['catalog_cpu_us_per_request'])} | {_fmt(g['loadgen_cpu_share'], 2)} |",
    ]
    if "rest_via_gateway_grpcio_client" in r:
        x = r["rest_via_gateway_grpcio_client"]
        rows.append(
            f"| REST via our gateway, grpcio client (wrk) | {_fmt(x['rps'])} "
            f"| {_fmt(x['p50_ms'], 2)} | {_fmt(x['p99_ms'], 2)} "
            f"| **{_fmt(x['gateway_cpu_us_per_request'])}** "
            f"| {_fmt(x['catalog_cpu_us_per_request'])} | {_fmt(x['loadgen_cpu_share'], 2)} |"
        )
    if "rest_via_reference" in r:
        x = r["rest_via_reference"]
        rows.append(
            f"| REST via grpc-gateway v1.6.4 (wrk) | {_fmt(x['rps'])} | {_fmt(x['p50_ms'], 2)} "
            f"| {_fmt(x['p99_ms'], 2)} | **{_fmt(x['gateway_cpu_us_per_request'])}** "
            f"| {_fmt(x['catalog_cpu_us_per_request'])} | {_fmt(x['loadgen_cpu_share'], 2)} |"
        )
    lines = [
        "# Gateway benchmark",
        "",
        f"{r['when']} · {r['machine']['cpus']} CPUs · Python {r['machine']['python']} · "
        f"{r['duration_s']} s per run after {r['warmup_s']} s warm-up · {r['repeats']} rounds "
        f"interleaved · {r['connections']} connections · {r['gateway_workers']} gateway "
        "worker(s)",
        "",
        f"Method: {r['method']}. Placement: {r['placement']}. Versions: "
        + ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        + ".",
        "",
        "Shared machine: 1-minute load average "
        f"{r['machine']['loadavg_1m_before_after'][0]} before, "
        f"{r['machine']['loadavg_1m_before_after'][1]} after (other work runs on the same two "
        "cores); figures are medians with the range over the rounds in parentheses.",
        "",
        "| path | req/s | p50 ms | p99 ms | gateway CPU µs/req | catalog CPU µs/req "
        "| load generator CPU share |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Throughput ratio REST/gRPC (R1): **{r['throughput_ratio']:.2f}** (target ≥ 0.9 when "
        "the backend is the bottleneck).",
        "",
    ]
    if "cpu_ratio_vs_reference" in r:
        q = r["cpu_ratio_vs_reference"]
        lines += [
            "Gateway CPU per request, ours ÷ grpc-gateway (R2): "
            f"**{q['median_of_medians']:.2f}** (per round {_fmt(q['per_round'], 2)}; target ≤ "
            f"{q['target']}).",
            "",
        ]
    if "rest_via_gateway_grpcio_client" in r:
        native = g["gateway_cpu_us_per_request"]["median"]
        aio = r["rest_via_gateway_grpcio_client"]["gateway_cpu_us_per_request"]["median"]
        lines += [
            "The escape hatch, `COLONNADE_GATEWAY_GRPC_CLIENT=grpcio` (grpc.aio instead of the "
            f"gateway's own client): gateway CPU per request **{aio:.0f}** vs {native:.0f} µs "
            f"(ratio {aio / native:.2f}).",
            "",
        ]
    cw, ca = r["grpcwire_client_alone"], r["grpc_aio_client_alone"]
    lines += [
        "A gRPC client alone (scripts/bench_client.py: bytes in and out, the same method, "
        "metadata and concurrency, no HTTP, no JSON, pinned like the gateway):",
        "",
        "| client | CPU µs/call | calls/s |",
        "| --- | ---: | ---: |",
        f"| the gateway's own (colonnade.gateway.grpcwire) | **{_fmt(cw['cpu_us_per_call'])}** "
        f"| {_fmt(cw['calls_per_s'])} |",
        f"| grpc.aio (what it replaced) | {_fmt(ca['cpu_us_per_call'])} "
        f"| {_fmt(ca['calls_per_s'])} |",
        "",
        f"Reference gateway: {ref['note']}."
        + (
            f" Same JSON as ours on the sample product: {ref['same_json']}."
            if "same_json" in ref
            else ""
        ),
        "",
        "JSON converters on a catalog Product (µs per call, best of 5):",
        "",
        "| direction | compiled | json_format | ratio |",
        "| --- | ---: | ---: | ---: |",
        f"| proto → JSON | {c['to_json_compiled_us']:.2f} | {c['to_json_json_format_us']:.2f} "
        f"| {c['to_json_ratio']:.2f} |",
        f"| JSON → proto | {c['from_json_compiled_us']:.2f} "
        f"| {c['from_json_json_format_us']:.2f} | {c['from_json_ratio']:.2f} |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
