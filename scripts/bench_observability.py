#!/usr/bin/env python3
"""`make bench`: what metrics and tracing cost the gateway and the catalog, per request.

One run, two stacks side by side on the same PostgreSQL and memcached, the same placement
(catalogs on the last CPU, gateways and wrk on CPU 0), interleaved rounds (off, on, off, on…):

* **off**: the last commit before observability (``--baseline``, default ``BASELINE``),
  exported with ``git archive`` and its protobuf code generated: the code
  without any of the observability work;
* **on**: this tree, configured as prod runs it: metrics always, EMF lines every 60 s, spans
  sampled at ``TRACE_SAMPLE_RATIO=0.05`` (requests without a traceparent) and exported over
  OTLP/gRPC (batched) to a span sink in this process, which counts what arrives.

`GET /v1/products/{id}` of a cached product through each gateway with wrk; CPU microseconds per
request of each gateway and catalog from /proc/<pid>/stat, at the same fixed offered rate for every
stack (h2load --rps; `--closed-loop` for wrk as fast as it goes, where a slower backend also
raises the gateway's CPU per request through less batching). Reports the on/off ratio per process
(median of the rounds; the aim is ≤ 1.10) into build/bench/observability.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent import futures
from pathlib import Path
from typing import Any

from bench import (  # scripts/ is on sys.path (run as a script)
    ROOT,
    cpu_seconds,
    data_stores,
    ensure_tools,
    load_cpu,
    parse_wrk,
    pinned,
    seed_product,
    start_data_stores,
    summary,
    tear_down,
    write_report,
)

PROD_RATIO = "0.05"


class SpanSink:
    """An OTLP/gRPC trace receiver that only counts spans (the ADOT collector's place)."""

    def __init__(self) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1 import (
            trace_service_pb2,
            trace_service_pb2_grpc,
        )

        self.spans = 0
        self.lock = threading.Lock()
        sink = self

        class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                with sink.lock:
                    for rs in request.resource_spans:
                        for ss in rs.scope_spans:
                            sink.spans += len(ss.spans)
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
        add(Receiver(), self.server)  # type: ignore[no-untyped-call]
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0)


#: The last commit before observability (metrics cannot be switched off in the code after it).
BASELINE = "7ea4848"


def baseline_tree(rev: str, dest: Path) -> Path:
    """``rev`` exported to ``dest`` with its generated protobuf code; returns its services/."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    subprocess.run([sys.executable, str(dest / "scripts" / "gen.py")], check=True)
    return dest / "services"


def start(
    cpu: int, module: str, env: dict[str, str], args: list[str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        pinned(cpu, [sys.executable, "-m", module, *(args or [])]),
        env=env,
        stdout=subprocess.DEVNULL,  # EMF lines and logs: written, not shown
    )


def gateway_args(target: str, port: int, *, baseline: bool) -> list[str]:
    """The gateway's flags; this tree's gateway also routes catalog v2 and has edge policies,
    which are off here (the baseline has none: only observability is compared)."""
    current = (
        []
        if baseline
        else [
            "--backend",
            f"colonnade.catalog.v2.CatalogService={target}",
            "--no-policies",
        ]
    )
    return [
        *current,
        "--backend",
        f"colonnade.catalog.v1.CatalogService={target}",
        "--backend",
        f"colonnade.orders.v1.OrdersService={target}",  # never called here
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=int(os.environ.get("BENCH_REPEATS", "5")))
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--baseline", default="", help=f"revision without observability (default {BASELINE})"
    )
    ap.add_argument(
        "--rate",
        type=int,
        default=600,
        help="offered requests/s (h2load --rps), the same for every stack: below their capacity",
    )
    ap.add_argument(
        "--closed-loop",
        action="store_true",
        help="wrk as fast as it goes instead (the gateway's CPU then depends on the backend)",
    )
    ap.add_argument(
        "--tracing",
        default="otlp",
        help="the traced stack's TRACE_EXPORTERS (otlp as in prod; '' for metrics alone)",
    )
    args = ap.parse_args()
    ensure_tools()
    from colonnade.runtime.healthcheck import check_grpc, check_http, wait_healthy
    from colonnade_tools.devstack.ports import free_port

    baseline = args.baseline or BASELINE
    backend_cpu = (os.cpu_count() or 1) - 1
    tmp, pg, mc = data_stores("colonnade-bench-obs-")
    sink = SpanSink()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        off_services = baseline_tree(baseline, tmp / "baseline")
        env = start_data_stores(pg, mc, ("catalog",))
        env["COLONNADE_GATEWAY_ACCESS_LOG"] = "false"
        off_env = {**env, "PYTHONPATH": str(off_services)}
        on_env = {
            **env,
            "METRICS_EMF_INTERVAL": "60",
            "TRACE_EXPORTERS": args.tracing,
            "TRACE_SAMPLE_RATIO": PROD_RATIO,
            "OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}",
        }
        for k in ("METRICS_EMF_INTERVAL", "TRACE_EXPORTERS", "TRACE_SAMPLE_RATIO", "OTLP_ENDPOINT"):
            on_env[f"COLONNADE_GATEWAY_{k}"] = on_env[k]
        # The same code with tracing off: what metrics alone cost, in the same run.
        metrics_env = {**on_env, "TRACE_EXPORTERS": "", "COLONNADE_GATEWAY_TRACE_EXPORTERS": ""}
        stacks: dict[str, dict[str, Any]] = {}
        for label, stack_env in (("off", off_env), ("metrics", metrics_env), ("on", on_env)):
            cport, gport = free_port(), free_port()
            catalog = start(
                backend_cpu,
                "colonnade.catalog",
                {**stack_env, "SERVICE_NAME": "catalog", "GRPC_PORT": str(cport)},
            )
            procs.append(catalog)
            target = f"127.0.0.1:{cport}"
            wait_healthy(lambda t=target: check_grpc(t, timeout=1), 60)  # type: ignore[misc]
            gateway = start(
                0,
                "colonnade.gateway",
                stack_env,
                gateway_args(target, gport, baseline=label == "off"),
            )
            procs.append(gateway)
            readyz = f"http://127.0.0.1:{gport}/readyz"
            wait_healthy(functools.partial(check_http, readyz, timeout=1), 60)
            stacks[label] = {
                "catalog": catalog,
                "gateway": gateway,
                "target": target,
                "port": gport,
            }
        # One product, cached; both catalogs share the database and memcached.
        request = asyncio.run(seed_product(stacks["on"]["target"]))
        path = "/v1/" + request[2:].decode()
        # The baseline must really be without observability; this tree with it.
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{stacks['off']['port']}/metrics"):
                raise SystemExit("the baseline gateway serves /metrics: it is not the code without")
        except urllib.error.HTTPError as exc:
            with exc:
                assert exc.code == 404
        with urllib.request.urlopen(f"http://127.0.0.1:{stacks['on']['port']}/metrics") as r:
            assert b"colonnade_http_requests_total" in r.read()

        def wrk(label: str) -> dict[str, Any]:
            s = stacks[label]
            url = f"http://127.0.0.1:{s['port']}{path}"
            c, d = args.connections, args.duration
            load_cpu(pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{args.warmup}s", url]))
            gw, cat = s["gateway"].pid, s["catalog"].pid
            gw0, cat0 = cpu_seconds(gw), cpu_seconds(cat)
            text, gen = load_cpu(pinned(0, ["wrk", "-t1", f"-c{c}", f"-d{d}s", "--latency", url]))
            out = parse_wrk(text)
            return per_request(out, gw0, cat0, gen, d, s)

        def fixed_rate(label: str) -> dict[str, Any]:
            # The same offered load for every stack: CPU per request then compares the same
            # batching (a slower backend under closed-loop load makes the gateway's event loop
            # wake more often per request, which is not the gateway's own cost).
            s = stacks[label]
            url = f"http://127.0.0.1:{s['port']}{path}"
            clients, d = 12, args.duration
            load_cpu(pinned(0, ["wrk", "-t1", "-c12", f"-d{args.warmup}s", url]))
            gw, cat = s["gateway"].pid, s["catalog"].pid
            gw0, cat0 = cpu_seconds(gw), cpu_seconds(cat)
            rps = max(1, args.rate // clients)
            cmd = ["h2load", "--h1", "-c", str(clients), "--rps", str(rps), "-D", str(d), url]
            text, gen = load_cpu(pinned(0, cmd))
            match = re.search(
                r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", text
            )
            if match is None:
                raise SystemExit(f"h2load: {text[-400:]}")
            out: dict[str, Any] = {"requests": int(match.group(1)), "rps": int(match.group(1)) / d}
            if int(match.group(2)) != out["requests"]:
                raise SystemExit(f"h2load: failed requests against {label}: {text[-400:]}")
            return per_request(out, gw0, cat0, gen, d, s)

        def per_request(
            out: dict[str, Any], gw0: float, cat0: float, gen: float, d: float, s: dict[str, Any]
        ) -> dict[str, Any]:
            gw, cat = s["gateway"].pid, s["catalog"].pid
            n = max(1, out["requests"])
            out["gateway_cpu_us_per_request"] = (cpu_seconds(gw) - gw0) / n * 1e6
            out["catalog_cpu_us_per_request"] = (cpu_seconds(cat) - cat0) / n * 1e6
            out["loadgen_cpu_share"] = gen / d
            return out

        runs: dict[str, list[dict[str, Any]]] = {"off": [], "metrics": [], "on": []}
        orders = [("off", "metrics", "on"), ("on", "off", "metrics"), ("metrics", "on", "off")]
        spans_before = sink.spans
        on_requests = 0
        for i in range(args.repeats):
            print(f"round {i + 1}/{args.repeats}", flush=True)
            for label in orders[i % 3]:
                result = wrk(label) if args.closed_loop else fixed_rate(label)
                runs[label].append(result)
                if label == "on":
                    on_requests += result["requests"]
        time.sleep(6)  # the batch span processor exports every 5 s
        keys = ("gateway_cpu_us_per_request", "catalog_cpu_us_per_request", "rps")
        report: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "baseline": baseline,
            "placement": f"catalogs on CPU {backend_cpu}; gateways and wrk on CPU 0",
            "request": f"GET {path} (cached product)",
            "on_note": "metrics, EMF every 60 s, spans sampled at 0.05 exported over OTLP/gRPC",
            "duration_s": args.duration,
            "repeats": args.repeats,
            "load": (
                f"wrk closed loop, {args.connections} connections"
                if args.closed_loop
                else f"h2load --h1 at a fixed {args.rate} requests/s offered, 12 clients"
            ),
            "loadavg_1m": round(os.getloadavg()[0], 2),
            "off": {k: summary([float(r[k]) for r in runs["off"]]) for k in keys},
            "on": {k: summary([float(r[k]) for r in runs["on"]]) for k in keys},
            "metrics": {k: summary([float(r[k]) for r in runs["metrics"]]) for k in keys},
            "spans_exported": sink.spans - spans_before,
            "requests_on": on_requests,
            "runs": runs,
        }
        ratios = {}
        for who in ("gateway", "catalog"):
            k = f"{who}_cpu_us_per_request"
            per_round = [on[k] / off[k] for on, off in zip(runs["on"], runs["off"], strict=True)]
            ratios[who] = {
                "median_ratio": report["on"][k]["median"] / report["off"][k]["median"],
                "per_round": summary(per_round),
                "metrics_only_ratio": report["metrics"][k]["median"] / report["off"][k]["median"],
                "target": 1.10,
            }
        report["cpu_ratio_on_vs_off"] = ratios
        write_report("observability", report, markdown(report))
        return 0
    finally:
        sink.stop()
        tear_down(procs, tmp, pg, mc)


def markdown(r: dict[str, Any]) -> str:
    def row(label: str, s: dict[str, Any]) -> str:
        g, c, rps = (
            s["gateway_cpu_us_per_request"],
            s["catalog_cpu_us_per_request"],
            s["rps"],
        )
        return (
            f"| {label} | {g['median']:.0f} ({g['min']:.0f}-{g['max']:.0f}) "
            f"| {c['median']:.0f} ({c['min']:.0f}-{c['max']:.0f}) "
            f"| {rps['median']:.0f} |"
        )

    ratio = r["cpu_ratio_on_vs_off"]
    lines = [
        "# Observability cost (make bench)",
        "",
        f"{r['when']}, {r['request']}, {r['repeats']} interleaved rounds of {r['duration_s']} s, "
        f"{r['load']}; {r['placement']}; load average {r['loadavg_1m']}.",
        f"off = {r['baseline'][:10]} (before observability); on = {r['on_note']}.",
        "",
        "| | gateway CPU µs/request | catalog CPU µs/request | requests/s |",
        "| --- | --- | --- | --- |",
        row("off", r["off"]),
        row("metrics only", r["metrics"]),
        row("on", r["on"]),
        "",
        f"on/off: gateway {ratio['gateway']['median_ratio']:.3f} "
        f"(per round {ratio['gateway']['per_round']['min']:.3f}-"
        f"{ratio['gateway']['per_round']['max']:.3f}), catalog "
        f"{ratio['catalog']['median_ratio']:.3f} (per round "
        f"{ratio['catalog']['per_round']['min']:.3f}-{ratio['catalog']['per_round']['max']:.3f});"
        " aim ≤ 1.10.",
        f"Metrics alone (tracing off): gateway {ratio['gateway']['metrics_only_ratio']:.3f}, "
        f"catalog {ratio['catalog']['metrics_only_ratio']:.3f}.",
        f"Spans exported: {r['spans_exported']} for {r['requests_on']} requests through the "
        "traced stack (about 3 spans per sampled request: gateway, catalog server, memcached).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
