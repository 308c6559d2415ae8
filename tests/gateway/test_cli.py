"""The process as `make run` starts it: exit codes, workers, SIGTERM (the configuration
layers themselves are unit-tested in unit/test_config.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from colonnade.descriptors import descriptor_set

CATALOG_SET = descriptor_set()


def test_bad_descriptor_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.binpb"
    bad.write_bytes(b"\xff\xff not a descriptor set")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(bad),
            "--backend",
            "*=h:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not a binary FileDescriptorSet" in proc.stderr


def test_unmapped_service_exits_2() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(CATALOG_SET),
            "--backend",
            "other.v1=127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "no backend for colonnade.catalog.v1.CatalogService" in proc.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_process_serves_and_stops_on_sigterm(workers: int) -> None:
    from colonnade_tools.devstack.ports import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--descriptors",
            str(CATALOG_SET),
            "--backend",
            f"colonnade.catalog.v1.CatalogService=127.0.0.1:{free_port()}",
            "--backend",
            f"colonnade.catalog.v2.CatalogService=127.0.0.1:{free_port()}",
            "--backend",
            f"colonnade.orders.v1.OrdersService=127.0.0.1:{free_port()}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, b"")))  # type: ignore[union-attr]
    reader.start()

    def listening() -> list[dict[str, object]]:
        return [json.loads(x) for x in list(lines) if b'"message":"gateway listening"' in x]

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if len(listening()) < workers:  # every worker up before SIGTERM
                    raise OSError("not every worker is listening yet")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(timeout=30)
        proc.stdout.close()  # type: ignore[union-attr]
    out = b"".join(lines)
    assert proc.returncode == 0, out
    # --workers N: N processes on the same port (SO_REUSEPORT), all stopped by one SIGTERM
    assert len({entry["pid"] for entry in listening()}) == workers, out
    assert {entry["address"] for entry in listening()} == {f"http://127.0.0.1:{port}"}
    assert out.count(b'"message":"gateway stopping"') == workers, out
