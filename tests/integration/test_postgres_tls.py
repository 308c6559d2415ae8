"""PostgreSQL that requires TLS (as RDS does), with ``sslmode=verify-full`` from the service.

The server is Debian's PostgreSQL 15 (the embedded wheel has no OpenSSL) with a certificate
from a local CA for ``127.0.0.1`` and ``db.colonnade.test`` only, and a ``pg_hba.conf`` that
accepts TLS connections alone. A TLS misconfiguration must fail start-up at once with a
message naming ``sslrootcert``, never be retried as "database unavailable" for 30 s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.db import DatabaseConfigurationError, migrate, wait_for_database
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import (
    DEBIAN_POSTGRES_HINT,
    PostgresServer,
    debian_postgres_binaries,
)
from colonnade_tools.localca import LocalCA
from tests.conftest import REPO_ROOT, StartCatalog, make_settings
from tests.integration.helpers import new_product

pytestmark = pytest.mark.integration

DATABASE = "colonnade_tls"
#: Far below wait_for_database's 30 s of retries: a configuration error is not waited out.
FAST = 5.0


@pytest.fixture(scope="module")
def tls_postgres(
    tmp_path_factory: pytest.TempPathFactory, local_ca: LocalCA
) -> Iterator[PostgresServer]:
    binaries = debian_postgres_binaries()
    if binaries is None:
        pytest.fail(DEBIAN_POSTGRES_HINT)
    cert = local_ca.issue("127.0.0.1", "db.colonnade.test")  # not "localhost"
    server = PostgresServer(
        tmp_path_factory.mktemp("pg-tls") / "data",
        free_port(),
        durable=False,
        binaries=binaries,
        ssl_cert=cert.cert,
        ssl_key=cert.key,
        password_auth=True,  # as for service roles in AWS; postgres itself needs none
    )
    server.start()
    server.create_database(DATABASE)
    try:
        yield server
    finally:
        server.remove()


def verify_full(server: PostgresServer, ca: Path | None, host: str | None = None) -> str:
    query = {"sslmode": "verify-full"} | ({"sslrootcert": str(ca)} if ca else {})
    return server.url(DATABASE, host=host, **query)


async def test_verify_full_with_the_right_ca_serves_the_catalog(
    tls_postgres: PostgresServer, local_ca: LocalCA, start_catalog: StartCatalog, unique: str
) -> None:
    url = verify_full(tls_postgres, local_ca.cert)
    _, target = await start_catalog(database_url=url, cache_url="none")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique))
        )
        got = await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert got == created
    conn = await asyncpg.connect(url)
    try:
        # the service's own pooled connections are encrypted too
        encrypted = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) "
            "WHERE application_name = 'catalog-test' AND ssl"
        )
        assert encrypted >= 1
    finally:
        await conn.close()


async def test_the_server_refuses_plaintext(tls_postgres: PostgresServer) -> None:
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="no encryption"):
        await asyncpg.connect(tls_postgres.url(DATABASE, sslmode="disable"))


async def test_service_roles_authenticate_with_a_password(
    tls_postgres: PostgresServer, local_ca: LocalCA, unique: str
) -> None:
    tls = {"sslmode": "verify-full", "sslrootcert": str(local_ca.cert)}
    role = f"svc_{unique}"
    admin = await asyncpg.connect(verify_full(tls_postgres, local_ca.cert))
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret/pass'")
    finally:
        await admin.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(tls_postgres.url(DATABASE, user=role, password="wrong", **tls))
    conn = await asyncpg.connect(
        tls_postgres.url(DATABASE, user=role, password="s3cret/pass", **tls)
    )
    try:
        assert await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await conn.close()


async def assert_fails_fast(url: str, *expected: str) -> str:
    settings = make_settings(url, "none")
    started = time.monotonic()
    with pytest.raises(DatabaseConfigurationError) as err:
        await wait_for_database(settings)
    assert time.monotonic() - started < FAST
    message = str(err.value)
    for text in expected:
        assert text in message, message
    with pytest.raises(DatabaseConfigurationError):  # and the migration path says the same
        await migrate(settings, "catalog", "colonnade.catalog.migrations")
    return message


async def test_the_wrong_ca_fails_start_up_at_once_naming_sslrootcert(
    tls_postgres: PostgresServer, other_ca: LocalCA, start_catalog: StartCatalog
) -> None:
    url = verify_full(tls_postgres, other_ca.cert)
    message = await assert_fails_fast(url, "sslrootcert", "DATABASE_URL", str(other_ca.cert))
    assert "failed verification" in message
    started = time.monotonic()
    with pytest.raises(DatabaseConfigurationError):
        await start_catalog(database_url=url, cache_url="none")
    assert time.monotonic() - started < FAST


async def test_a_host_name_the_certificate_lacks_fails_at_once(
    tls_postgres: PostgresServer, local_ca: LocalCA
) -> None:
    url = verify_full(tls_postgres, local_ca.cert, host="localhost")
    message = await assert_fails_fast(url, "sslrootcert", "localhost")
    assert "Hostname mismatch" in message


async def test_verify_full_without_a_root_certificate_fails_at_once(
    tls_postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLROOTCERT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/root.crt there
    message = await assert_fails_fast(
        verify_full(tls_postgres, None), "sslrootcert", "PGSSLROOTCERT", "root certificate file"
    )
    assert "root.crt" in message


async def test_a_root_certificate_that_cannot_be_read_fails_at_once(
    tls_postgres: PostgresServer, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-bundle.pem"
    await assert_fails_fast(verify_full(tls_postgres, missing), f"sslrootcert={missing}")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    await assert_fails_fast(verify_full(tls_postgres, garbage), f"sslrootcert={garbage}")


async def test_pgsslrootcert_is_honoured(
    tls_postgres: PostgresServer, local_ca: LocalCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGSSLROOTCERT", str(local_ca.cert))
    await wait_for_database(make_settings(verify_full(tls_postgres, None), "none"))


async def test_the_catalog_process_exits_at_once_with_the_message(
    tls_postgres: PostgresServer, other_ca: LocalCA
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": verify_full(tls_postgres, other_ca.cert),
        "CACHE_URL": "none",
        "GRPC_PORT": "0",
    }
    started = time.monotonic()
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "colonnade.catalog"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 20  # interpreter start-up included
    assert result.returncode == 2
    assert "sslrootcert" in result.stdout and "configuration error" in result.stdout


async def test_db_migrate_false_leaves_the_schema_to_colonnade_migrate(
    postgres: PostgresServer, start_catalog: StartCatalog, unique: str
) -> None:
    name = f"nomigrate_{unique}"
    postgres.create_database(name)
    url = postgres.url(name)

    async def tables() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            return {r["tablename"] for r in rows}
        finally:
            await conn.close()

    await start_catalog(database_url=url, cache_url="none", db_migrate="false")
    assert await tables() == set()
    await start_catalog(database_url=url, cache_url="none")
    assert {"products", "schema_migrations"} <= await tables()
