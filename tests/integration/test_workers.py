"""``WORKERS=N``: N service processes on one port (SO_REUSEPORT), stopped by one SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.healthcheck import check_grpc, wait_healthy
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port

pytestmark = pytest.mark.integration


def status(admin_port: int) -> dict[str, Any]:
    url = f"http://127.0.0.1:{admin_port}/status.json"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def two_workers(
    database_url: str, memcached: MemcachedServer, port: int, **extra: str
) -> dict[str, str]:
    """The environment of a catalog with ``WORKERS=2`` on ``port``."""
    return {
        **os.environ,
        "SERVICE_NAME": "catalog",
        "DATABASE_URL": database_url,
        "CACHE_URL": memcached.url,
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": str(port),
        "WORKERS": "2",
        **extra,
    }


def test_two_workers_share_the_port_and_stop_together(
    database_url: str, memcached: MemcachedServer, tmp_path: Path
) -> None:
    port = free_port()
    admin = free_port()
    while admin + 1 == port:
        admin = free_port()
    env = two_workers(database_url, memcached, port, ADMIN_PORT=str(admin), LOG_ACCESS="false")
    log = (tmp_path / "catalog.log").open("wb")
    parent = subprocess.Popen(
        [sys.executable, "-m", "colonnade.catalog"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    workers: list[int] = []
    try:
        wait_healthy(lambda: check_grpc(f"127.0.0.1:{port}", timeout=1), 60)
        deadline = time.monotonic() + 60
        pids: set[int] = set()
        while time.monotonic() < deadline:  # both workers up, each with its own admin port
            try:
                pids = {status(admin)["pid"], status(admin + 1)["pid"]}
                break
            except OSError:
                time.sleep(0.2)
        workers = children(parent.pid)
        assert len(workers) == 2 and pids == set(workers)

        # Each new connection lands on either worker: both answer calls on the one port.
        request = catalog_pb2.ListProductsRequest(page_size=1)
        for _ in range(40):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                catalog_pb2_grpc.CatalogServiceStub(channel).ListProducts(request, timeout=10)
        served = [
            status(a)["rpc"].get("ListProducts", {}).get("requests", 0) for a in (admin, admin + 1)
        ]
        assert sum(served) == 40 and all(n > 0 for n in served), served

        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
        assert gone(workers, 10)
        text = (tmp_path / "catalog.log").read_text()
        assert text.count('"message":"stopped"') == 2, text[-2000:]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def test_a_worker_that_dies_takes_the_others_down(
    database_url: str, memcached: MemcachedServer, tmp_path: Path
) -> None:
    port = free_port()
    env = two_workers(database_url, memcached, port)
    parent = subprocess.Popen(
        [sys.executable, "-m", "colonnade.catalog"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers = started_workers(parent, port)
        os.kill(workers[0], signal.SIGKILL)
        assert parent.wait(30) == 1
        assert gone(workers[1:], 10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)


def test_workers_stop_when_the_supervisor_is_killed(
    database_url: str, memcached: MemcachedServer
) -> None:
    port = free_port()
    parent = subprocess.Popen(
        [sys.executable, "-m", "colonnade.catalog"],
        env=two_workers(database_url, memcached, port, SHUTDOWN_GRACE_SECONDS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        workers = started_workers(parent, port)
        parent.kill()  # no chance to pass anything on
        parent.wait(10)
        assert gone(workers, 20)
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def started_workers(parent: subprocess.Popen[bytes], port: int) -> list[int]:
    """The two workers' pids, once the port answers and both are running."""
    wait_healthy(lambda: check_grpc(f"127.0.0.1:{port}", timeout=1), 60)
    deadline = time.monotonic() + 30
    while len(workers := children(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(workers) == 2
    return workers


def gone(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not any(alive(p) for p in pids)
