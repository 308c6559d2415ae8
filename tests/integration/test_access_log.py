"""The access log's sampling (``LOG_ACCESS_SAMPLE``) and the generated request ids."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.interceptors import _REQUEST_ID, RequestIds
from tests.conftest import StartCatalog
from tests.integration.helpers import new_product

pytestmark = pytest.mark.integration


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "colonnade.access"]


@pytest.mark.parametrize("sample", ["0", "1"])
async def test_sampled_access_log_keeps_every_failed_call(
    start_catalog: StartCatalog,
    unique: str,
    sample: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, target = await start_catalog(log_access="true", log_access_sample=sample)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"l-{unique}")
        )
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="colonnade.access"):
            for _ in range(5):
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=f"products/no-{unique}"))
    codes = [getattr(r, "code", None) for r in access_lines(caplog)]
    if sample == "0":
        assert codes == ["NOT_FOUND"]
    else:
        assert codes == ["OK"] * 5 + ["NOT_FOUND"]


def test_generated_request_ids_are_unique_and_shaped_like_uuids() -> None:
    ids = RequestIds()
    made = [ids.next() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) and _REQUEST_ID.match(i) for i in made)
    # Another process (another generator) draws another prefix.
    assert RequestIds().next()[:16] != made[0][:16]


def test_a_stream_its_client_cancelled_is_logged_without_touching_the_freed_call() -> None:
    """Run in a process of its own: before the fix it died of SIGSEGV within 1000
    cancelled streams (the orders service under ``make run`` did so when the web UI left an
    order's live view)."""
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-m", "tests.integration.abandoned_streams", "1000"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "survived"
    assert "access lines, peers ['ipv4']" in result.stdout, result.stdout
