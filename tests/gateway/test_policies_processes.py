"""Throttling shared by two gateway *processes* (`python -m colonnade.gateway`, configured by
environment as in a container) through one memcached, under concurrent load."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
import time
from pathlib import Path

import pytest

from colonnade.runtime.healthcheck import check_http, wait_healthy
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from tests.authkit import AuthKit
from tests.conftest import CATALOG_DESCRIPTORS, StartCatalog
from tests.gateway.httpclient import request

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_two_gateway_processes_admit_the_limit_together(
    start_catalog: StartCatalog, memcached: MemcachedServer, tmp_path: Path, unique: str
) -> None:
    kit = AuthKit(tmp_path / "auth")
    _, catalog = await start_catalog(**kit.service_env())
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        **{f"COLONNADE_GATEWAY_{k.upper()}": str(v) for k, v in kit.gateway_config().items()},
        "COLONNADE_GATEWAY_DESCRIPTORS": str(CATALOG_DESCRIPTORS),
        "COLONNADE_GATEWAY_BACKENDS": (
            f"colonnade.catalog.v1={catalog},colonnade.catalog.v2={catalog},"
            f"colonnade.orders.v1={catalog}"
        ),
        "COLONNADE_GATEWAY_POLICY_CACHE_URL": memcached.url,
        "COLONNADE_GATEWAY_RATE_LIMITS": "read=1000/20,write=10/200,standard=20/600,"
        "internal=100/3000",
        "COLONNADE_GATEWAY_REPLICAS": "2",
    }
    ports = [free_port(), free_port()]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "colonnade.gateway",
            "--port",
            str(port),
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        for port in ports:
            ready = functools.partial(check_http, f"http://127.0.0.1:{port}/readyz", timeout=1)
            await asyncio.to_thread(wait_healthy, ready, 60)
        # All requests inside one minute window (the limit that decides is per minute).
        into = time.time() % 60
        await asyncio.sleep(60.5 - into if into > 45 else 0)
        caller = kit.bearer(f"procs-{unique}")
        results = await asyncio.gather(
            *(
                request(port, "GET", f"/v1/products/none-{unique}", headers=caller)
                for port in ports * 30
            )
        )
        statuses = [r.status for r in results]
        assert statuses.count(404) == 20 and statuses.count(429) == 40, statuses
        throttled = next(r for r in results if r.status == 429)
        assert int(throttled.headers["retry-after"]) >= 1
        assert throttled.headers["ratelimit-remaining"] == "0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            await asyncio.wait_for(proc.wait(), 10)
