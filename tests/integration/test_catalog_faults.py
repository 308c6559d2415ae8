"""Caching, dependency faults, health, reflection and graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from colonnade.catalog.caching import decode_product
from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import PostgresServer
from tests.conftest import REPO_ROOT, StartCatalog
from tests.integration.helpers import memcached_get, memcached_stats, new_product

pytestmark = pytest.mark.integration

CACHE_PREFIX = b"catalog:v1:product:"


async def cached_value(server: MemcachedServer, product_id: str) -> bytes | None:
    return await memcached_get(server, CACHE_PREFIX + product_id.encode())


async def test_cache_hit_after_miss_and_invalidation_on_writes(
    start_catalog: StartCatalog, fresh_memcached: MemcachedServer, unique: str
) -> None:
    _, target = await start_catalog(cache_url=fresh_memcached.url)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"c-{unique}")
        )
        pid = f"c-{unique}"
        assert await cached_value(fresh_memcached, pid) is None  # creates do not fill

        before = await memcached_stats(fresh_memcached)
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))  # miss → fill
        stored = await cached_value(fresh_memcached, pid)
        assert stored is not None and decode_product(stored).title == created.title
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))  # hit
        after = await memcached_stats(fresh_memcached)
        # two service gets + our own check read: the second service get was a hit
        assert int(after[b"get_hits"]) - int(before[b"get_hits"]) == 2

        updated = await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=created.name, title="Fresh"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        )
        got = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert got.title == "Fresh" and got.etag == updated.etag  # never the stale cached copy

        await stub.DeleteProduct(catalog_pb2.DeleteProductRequest(name=created.name))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert err.value.code() is grpc.StatusCode.NOT_FOUND


async def test_hot_key_misses_share_one_database_load(
    start_catalog: StartCatalog, fresh_memcached: MemcachedServer, database_url: str, unique: str
) -> None:
    """A burst of reads of one cold key loads it from PostgreSQL once per process."""
    server, target = await start_catalog(cache_url=fresh_memcached.url)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique))
        )
        conn = await asyncpg.connect(database_url)
        try:
            # Hold the row so the first load blocks: the others must queue behind it, not query.
            await conn.execute("SELECT pg_stat_reset()")
            tx = conn.transaction()
            await tx.start()
            await conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
            calls = [
                asyncio.ensure_future(
                    stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
                )
                for _ in range(20)
            ]
            await asyncio.sleep(0.5)
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'SELECT id, sku%'"
            )
            await tx.rollback()
            replies = await asyncio.gather(*calls)
        finally:
            await conn.close()
    assert waiting == 1, f"{waiting} queries hit the database for one cold key"
    assert all(r.name == created.name for r in replies)
    del server


async def test_memcached_killed_mid_test_reads_and_writes_still_work(
    start_catalog: StartCatalog,
    fresh_memcached: MemcachedServer,
    unique: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, target = await start_catalog(cache_url=fresh_memcached.url)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique))
        )
        await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))  # cached now

        fresh_memcached.kill()
        with caplog.at_level(logging.WARNING, logger="colonnade.cache"):
            got = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
            assert got.title == created.title
            updated = await stub.UpdateProduct(
                catalog_pb2.UpdateProductRequest(
                    product=catalog_pb2.Product(name=created.name, title="While down"),
                    update_mask=field_mask_pb2.FieldMask(paths=["title"]),
                )
            )
            assert updated.title == "While down"
            second = await stub.CreateProduct(
                catalog_pb2.CreateProductRequest(product=new_product(unique + "2"))
            )
            listed = await stub.ListProducts(
                catalog_pb2.ListProductsRequest(filter=f'category = "cat-{unique}2"')
            )
            assert [p.name for p in listed.products] == [second.name]
            assert (
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
            ).title == "While down"
        assert any("cache degraded" in r.getMessage() for r in caplog.records)

        # memcached comes back on the same port: the service uses it again by itself.
        revived = MemcachedServer(fresh_memcached.port)
        revived.start()
        try:
            await asyncio.sleep(1.2)  # past the degraded back-off
            for _ in range(2):
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=second.name))
            assert await cached_value(revived, second.name.split("/")[1]) is not None
        finally:
            revived.stop()


@pytest.fixture
async def own_postgres(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PostgresServer]:
    server = PostgresServer(
        tmp_path_factory.mktemp("pg-restart") / "data", free_port(), durable=False
    )
    server.start()
    server.create_database("restart")
    yield server
    server.remove()


async def test_postgres_stopped_and_restarted_mid_test(
    start_catalog: StartCatalog, own_postgres: PostgresServer, unique: str
) -> None:
    _, target = await start_catalog(database_url=own_postgres.url("restart"), cache_url="none")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique))
        )

        await asyncio.to_thread(own_postgres.stop)
        for _ in range(3):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
            assert "database is unavailable" in (err.value.details() or "")
        health = health_pb2_grpc.HealthStub(channel)
        assert (await health.Check(health_pb2.HealthCheckRequest())).status == (
            health_pb2.HealthCheckResponse.SERVING
        ), "the process stays up while its database is away"

        await asyncio.to_thread(own_postgres.start)
        for _ in range(50):
            try:
                got = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
                break
            except grpc.aio.AioRpcError as err:
                assert err.code() is grpc.StatusCode.UNAVAILABLE
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the service did not recover after PostgreSQL came back")
        assert got == created
        more = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique + "after"))
        )
        assert more.name


async def test_health_transitions_and_reflection(start_catalog: StartCatalog) -> None:
    server, target = await start_catalog()
    async with grpc.aio.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        service = "colonnade.catalog.v1.CatalogService"
        for name in ("", service):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert err.value.code() is grpc.StatusCode.NOT_FOUND

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = [s.name async for r in responses for s in r.list_services_response.service]
        assert service in names and "grpc.health.v1.Health" in names

        watch = health.Watch(health_pb2.HealthCheckRequest(service=service))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.ensure_future(server.stop(grace=2))
        second = await asyncio.wait_for(watch.read(), 5)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping


async def _lock_products(
    database_url: str,
) -> tuple[asyncpg.Connection, asyncpg.transaction.Transaction]:
    conn = await asyncpg.connect(database_url)
    tx = conn.transaction()
    await tx.start()
    await conn.execute("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
    return conn, tx


async def test_graceful_shutdown_lets_in_flight_calls_finish(
    start_catalog: StartCatalog, database_url: str, unique: str
) -> None:
    server, target = await start_catalog(cache_url="none")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique))
        )
        conn, tx = await _lock_products(database_url)
        try:
            calls = [
                asyncio.ensure_future(
                    stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
                )
                for _ in range(8)
            ]
            await asyncio.sleep(0.3)  # all eight are now waiting on the lock inside the service
            stopping = asyncio.ensure_future(server.stop(grace=10))
            await asyncio.sleep(0.3)
            assert not stopping.done(), "stop returned while calls were in flight"
        finally:
            await tx.rollback()
            await conn.close()
        replies = await asyncio.gather(*calls)
        await stopping
    assert all(r.name == created.name for r in replies)


async def test_sigterm_drains_in_flight_calls_in_a_real_process(
    database_url: str, memcached: MemcachedServer, unique: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": memcached.url,
        "GRPC_PORT": str(port),
        "SHUTDOWN_GRACE_SECONDS": "15",
        "SHUTDOWN_DELAY_SECONDS": "1.5",
    }
    process = subprocess.Popen(  # noqa: ASYNC220  # a real child process, signalled below
        [sys.executable, "-m", "colonnade.catalog"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        target = f"127.0.0.1:{port}"
        async with grpc.aio.insecure_channel(target) as channel:
            await asyncio.wait_for(channel.channel_ready(), 30)
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(100):
                if (await health.Check(health_pb2.HealthCheckRequest())).status == 1:
                    break
                await asyncio.sleep(0.1)
            created = await stub.CreateProduct(
                catalog_pb2.CreateProductRequest(product=new_product(unique))
            )
            conn, tx = await _lock_products(database_url)
            try:
                calls = [
                    asyncio.ensure_future(
                        stub.ListProducts(
                            catalog_pb2.ListProductsRequest(filter=f'category = "cat-{unique}"')
                        )
                    )
                    for _ in range(6)
                ]
                await asyncio.sleep(0.3)
                process.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                # Within the delay: health says NOT_SERVING so load balancers drain it.
                status = await health.Check(health_pb2.HealthCheckRequest())
                assert status.status == health_pb2.HealthCheckResponse.NOT_SERVING
                await asyncio.sleep(1.5)
                # Past the delay, the server has stopped accepting, yet waits for its calls.
                assert process.poll() is None, "the process exited with calls in flight"
            finally:
                await tx.rollback()
                await conn.close()
            replies = await asyncio.gather(*calls)
        assert all([p.name for p in r.products] == [created.name] for r in replies)
        assert await asyncio.to_thread(process.wait, 20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        output = process.stdout.read().decode() if process.stdout else ""
        if process.stdout is not None:
            process.stdout.close()
    assert '"message":"shutting down"' in output and '"message":"stopped"' in output
