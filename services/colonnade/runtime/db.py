"""PostgreSQL through asyncpg: the pool and ordered SQL migrations.

The pool's connections skip asyncpg's release-time reset (``get_reset_query``
returns ``""``). That reset (``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
RESET ALL``) costs a round trip per request; our services use no session state
(no LISTEN, advisory locks held across calls, cursors or session ``SET``), so
there is nothing to reset. ``statement_timeout`` is set once per connection
through server settings instead.

TLS is asyncpg's, configured by libpq's ``sslmode``/``sslrootcert`` in ``DATABASE_URL``'s
query (or ``PGSSLMODE``/``PGSSLROOTCERT``), passed through untouched. A certificate that
fails verification (wrong CA bundle, or a host name it was not issued for), a missing or
unreadable root certificate, or a server without TLS when TLS is required is a
configuration error: :class:`DatabaseConfigurationError` names ``sslrootcert`` and is
raised at once, never retried as "database unavailable".
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from colonnade.runtime.dbobserve import ObservedPool, observed_connection_class, pool_exhausted
from colonnade.runtime.dbpool import HoldingPool
from colonnade.runtime.errors import DomainError, unavailable
from colonnade.runtime.observability import Observability
from colonnade.runtime.settings import ConfigurationError, Settings, redact_url

log = logging.getLogger("colonnade.db")

#: Errors that mean "the database cannot be reached right now", not "the query is wrong".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


class NoResetConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection whose release back to the pool costs no round trip."""

    def get_reset_query(self) -> str:
        return ""


def iam_token_provider(settings: Settings) -> Callable[[], str]:
    """A password callable that signs an RDS IAM authentication token per connection.

    Tokens live 15 minutes, and asyncpg calls this for every new connection, so a
    pool never holds an expired one. Signing is local (SigV4 with the task role's
    credentials), no AWS call per connection.
    """
    import boto3  # only services that use IAM authentication need it

    parts = urlsplit(settings.database_url)
    if not parts.hostname or not parts.username:
        raise ValueError("DB_IAM_AUTH needs a DATABASE_URL with a user and a host")
    client = boto3.client("rds", region_name=settings.aws_region)
    host, port, user = parts.hostname, parts.port or 5432, unquote(parts.username)

    def token() -> str:
        return str(
            client.generate_db_auth_token(
                DBHostname=host, Port=port, DBUsername=user, Region=settings.aws_region
            )
        )

    return token


#: asyncpg's own default for ``statement_cache_size`` (passed only when set otherwise).
ASYNCPG_STATEMENT_CACHE_SIZE = 100


def connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for asyncpg's connect/create_pool beyond the DSN.

    ``DB_STATEMENT_CACHE_SIZE=0`` turns asyncpg's prepared-statement cache off: behind RDS
    Proxy (the serverless deployment) a named prepared statement pins the client's session
    to one database connection, which defeats the proxy's multiplexing (BUILD.md).
    """
    options: dict[str, Any] = {}
    if settings.db_statement_cache_size != ASYNCPG_STATEMENT_CACHE_SIZE:
        options["statement_cache_size"] = settings.db_statement_cache_size
    if settings.db_iam_auth:
        options["password"] = iam_token_provider(settings)
    return options


def database_unavailable(exc: BaseException) -> DomainError:
    """The UNAVAILABLE error a service returns when PostgreSQL cannot be reached."""
    if isinstance(exc, ssl.SSLCertVerificationError):  # e.g. the server's CA changed under us
        log.error(
            "PostgreSQL's certificate failed verification: DATABASE_URL's sslrootcert "
            "(or PGSSLROOTCERT) must name the CA bundle that signed it",
            extra={"error": f"{type(exc).__name__}: {exc}"},
        )
    return unavailable("database", type(exc).__name__)


# --- TLS configuration errors -----------------------------------------------------------------


class DatabaseConfigurationError(ConfigurationError):
    """``DATABASE_URL``'s TLS settings do not fit the server; the message names ``sslrootcert``."""


_ROOT_CERT_HINT = (
    "DATABASE_URL's query needs sslrootcert=<CA bundle> (or PGSSLROOTCERT) naming the CA that "
    "signed the server's certificate; in AWS the RDS bundle the image carries: "
    "sslrootcert=/etc/colonnade/certs/rds-ca-bundle.pem"
)


def _tls_parameters(settings: Settings) -> tuple[str, str | None, str]:
    """``(sslmode, root certificate path or None, where that path comes from)``.

    Read as asyncpg reads them: the URL's query first, then libpq's environment variables
    (named here only so that messages can point at them).
    """
    query = parse_qs(urlsplit(settings.database_url).query)
    sslmode = query.get("sslmode", [os.environ.get("PGSSLMODE", "prefer")])[-1]
    if "sslrootcert" in query:
        path = query["sslrootcert"][-1]
        return sslmode, path, f"DATABASE_URL's sslrootcert={path}"
    env_path = os.environ.get("PGSSLROOTCERT")
    if env_path:
        return sslmode, env_path, f"PGSSLROOTCERT={env_path}"
    return sslmode, None, "~/.postgresql/root.crt (DATABASE_URL has no sslrootcert)"


def check_tls_files(settings: Settings) -> None:
    """Fail now, naming the setting, when a root certificate is named but cannot be loaded.

    asyncpg would raise ``FileNotFoundError`` (an ``OSError``, so "unavailable") for it.
    """
    sslmode, path, source = _tls_parameters(settings)
    if path is None or sslmode in {"disable", "allow", "prefer"}:
        return
    try:
        ssl.create_default_context().load_verify_locations(cafile=path)
    except (OSError, ssl.SSLError) as exc:
        raise DatabaseConfigurationError(
            f"{source} cannot be loaded as PEM CA certificates ({exc}); {_ROOT_CERT_HINT}"
        ) from exc


def configuration_error(
    settings: Settings, exc: BaseException
) -> DatabaseConfigurationError | None:
    """The configuration error behind a failed connect, or ``None`` when it is an outage."""
    sslmode, _path, source = _tls_parameters(settings)
    parts = urlsplit(settings.database_url)
    server = f"PostgreSQL at {parts.hostname}:{parts.port or 5432}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DatabaseConfigurationError(
            f"{server}: its TLS certificate failed verification with sslmode={sslmode} "
            f"({exc.verify_message}). Check {source}: it must hold the CA that signed the "
            "server's certificate (in AWS: sslrootcert=/etc/colonnade/certs/rds-ca-bundle.pem), "
            "and with verify-full the host in DATABASE_URL must be a name the certificate is "
            "issued for. A configuration error: not retried"
        )
    if isinstance(exc, asyncpg.ClientConfigurationError):
        reason = exc.args[0] if exc.args else str(exc)
        return DatabaseConfigurationError(
            f"DATABASE_URL cannot be used with sslmode={sslmode}: {reason}. {_ROOT_CERT_HINT}"
        )
    if isinstance(exc, ConnectionError) and "rejected SSL upgrade" in str(exc):
        return DatabaseConfigurationError(
            f"{server} does not offer TLS, but DATABASE_URL asks for sslmode={sslmode}"
        )
    return None


@contextlib.contextmanager
def _configuration_errors(settings: Settings) -> Iterator[None]:
    """Turn what :func:`configuration_error` recognises into :class:`DatabaseConfigurationError`."""
    check_tls_files(settings)
    try:
        yield
    except Exception as exc:
        problem = configuration_error(settings, exc)
        if problem is not None:
            raise problem from exc
        raise


async def connect(settings: Settings) -> asyncpg.Connection:
    """One connection as ``DATABASE_URL`` says; TLS misconfiguration raises at once.

    Raises :class:`DatabaseConfigurationError` for a configuration problem, else what
    asyncpg raised (``CONNECTION_ERRORS`` for an outage).
    """
    with _configuration_errors(settings):
        return await asyncpg.connect(
            settings.database_url, timeout=settings.db_connect_timeout, **connect_options(settings)
        )


async def create_pool(
    settings: Settings, observability: Observability | None = None
) -> asyncpg.Pool:
    """A pool of no-reset connections; fails fast if the database is unreachable.

    With ``observability``, every statement and every acquisition is measured (and traced in
    sampled requests): :mod:`colonnade.runtime.dbobserve`.
    """
    options: dict[str, Any] = {
        "min_size": settings.db_pool_min,
        "max_size": settings.db_pool_max,
        "timeout": settings.db_connect_timeout,
        "command_timeout": max(settings.db_statement_timeout_ms / 1000, 1) + 5,
        **connect_options(settings),
        "max_inactive_connection_lifetime": 300,
        "server_settings": {
            "application_name": settings.service_name,
            "statement_timeout": str(settings.db_statement_timeout_ms),
        },
    }
    # asyncpg.create_pool is `Pool(dsn, **options)` with these defaults; the subclasses keep
    # `hold` connections lent between calls and (observed) know where to report.
    defaults = {"record_class": asyncpg.Record, "max_queries": 50000, "loop": None}
    hold = settings.db_pool_min
    with _configuration_errors(settings):
        if observability is None:
            pool = await HoldingPool(
                settings.database_url,
                connection_class=NoResetConnection,
                hold=hold,
                **defaults,
                **options,
            )
        else:
            pool = await ObservedPool(
                settings.database_url,
                connection_class=observed_connection_class(NoResetConnection, observability),
                observability=observability,
                hold=hold,
                **defaults,
                **options,
            )
            observability.metrics.watch_pool(pool)
    assert pool is not None
    return pool


async def wait_for_database(settings: Settings, wait_seconds: float = 30.0) -> None:
    """Retry connecting until the database answers or ``wait_seconds`` passed.

    A TLS configuration error (:class:`DatabaseConfigurationError`) is raised at once.
    """
    deadline = asyncio.get_running_loop().time() + wait_seconds
    delay = 0.1
    while True:
        try:
            conn = await connect(settings)
        except CONNECTION_ERRORS as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise ConnectionError(
                    f"PostgreSQL at {redact_url(settings.database_url)} did not answer "
                    f"within {wait_seconds:.0f}s: {exc}"
                ) from exc
            log.warning("waiting for the database", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        else:
            await conn.close()
            return


# --- migrations -------------------------------------------------------------------------------

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The migrations on disk disagree with what the database recorded."""


def load_migrations(package: str) -> list[Migration]:
    """Read ``NNNN_name.sql`` files from ``package`` (e.g. ``colonnade.catalog.migrations``)."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text()))
        elif entry.name.endswith(".sql"):
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {package}: {versions}")
    return found


async def apply_migrations(
    conn: asyncpg.Connection, component: str, migrations: Sequence[Migration]
) -> list[int]:
    """Apply, in order and each in its own transaction, the migrations not yet recorded.

    An advisory lock serialises concurrent starters (several replicas booting at
    once). A recorded migration whose file changed is an error, never re-run.
    Returns the versions applied now.
    """
    applied_now: list[int] = []
    lock_key = int.from_bytes(hashlib.sha256(component.encode()).digest()[:8], "big", signed=True)
    await conn.execute(_MIGRATIONS_TABLE)
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        rows = await conn.fetch(
            "SELECT version, checksum FROM schema_migrations WHERE component = $1", component
        )
        recorded: dict[int, Any] = {r["version"]: r["checksum"] for r in rows}
        for migration in migrations:
            if migration.version in recorded:
                if recorded[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{component} migration {migration.version:04d}_{migration.name} changed "
                        "after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (component, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration.version)
            log.info(
                "migration applied", extra={"component": component, "version": migration.version}
            )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
    return applied_now


async def migrate(settings: Settings, component: str, package: str) -> list[int]:
    """Connect once and apply ``package``'s migrations for ``component``."""
    conn = await connect(settings)
    try:
        return await apply_migrations(conn, component, load_migrations(package))
    finally:
        await conn.close()


_T = TypeVar("_T")


async def run_on_pool(
    pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[_T]]
) -> _T:
    """Run ``work`` on a pooled connection; an unreachable database becomes UNAVAILABLE.

    The one place repositories turn :data:`CONNECTION_ERRORS` into
    :func:`database_unavailable`, so a query error is never mistaken for an outage.
    """
    holding = isinstance(pool, HoldingPool)
    obs = pool.observability if isinstance(pool, ObservedPool) else None
    try:
        started = time.perf_counter()
        conn = pool.lend() if holding else None
        if conn is None:
            # Read before waiting: did this call find a full pool with nothing idle? (A held
            # connection counts as idle, so a call that got one above never did.)
            exhausted = obs is not None and pool_exhausted(pool)
            conn = await (pool.acquire_one() if holding else pool.acquire())
        else:
            exhausted = False
        if obs is not None:
            obs.metrics.db_acquired(time.perf_counter() - started, exhausted)
        try:
            result = await work(conn)
        except asyncpg.InternalClientError as exc:
            # A connection the server dropped mid-protocol (PostgreSQL stopped under a
            # query) can come back from the pool in a state asyncpg refuses ("cannot
            # switch to state 12; another operation is in progress"): it is broken, not
            # the query. Discard it so the pool opens a new one; the caller may retry.
            conn.terminate()
            await pool.release(conn)
            raise database_unavailable(exc) from exc
        except BaseException:
            await pool.release(conn)  # the pool's checks run on a connection a call failed on
            raise
        if not (holding and pool.keep(conn)):
            await pool.release(conn)
        return result
    except CONNECTION_ERRORS as exc:
        raise database_unavailable(exc) from exc
