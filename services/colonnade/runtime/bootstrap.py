"""``colonnade-migrate``: the one-shot database bootstrap, run before services roll.

It connects as the database administrator (in AWS the RDS-managed master user, which is *not* a
PostgreSQL superuser: it has ``CREATEROLE``, ``CREATEDB`` and membership in ``rds_superuser``)
and, for each service in ``DB_SERVICES``, makes sure that

- a ``LOGIN`` role named after the service exists, with no other attribute (``NOSUPERUSER
  NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS``);
- with ``DB_IAM_AUTH=true`` it is a member of ``rds_iam`` (what RDS requires for IAM token
  logins: Aurora user guide, UsingWithRDS.IAMDBAuth.DBAccounts); otherwise its password is
  ``DB_PASSWORD_<SERVICE>`` when that is set (the local rehearsal's stand-in for the token);
- a schema named after the service exists and is owned by the role, and the role's
  ``search_path`` is that schema alone;
- the role may ``CONNECT`` to the database;

then applies that service's migrations *as the role* (``SET ROLE``), so the role owns its
tables and its ``schema_migrations``, with :func:`colonnade.runtime.db.apply_migrations`
(advisory lock, checksums).

What PUBLIC keeps, and why. Every role is a member of PUBLIC, and by default PUBLIC may
``CONNECT`` to every database and create ``TEMPORARY`` tables in it. A service needs neither
from PUBLIC: it gets ``CONNECT`` explicitly, and no service uses temporary tables, so both are
revoked from PUBLIC on the service database (only when the administrator has the database
owner's rights, as the RDS master user has on the database RDS created; otherwise a warning
says what stays open). Anyone else who must connect gets an explicit ``GRANT CONNECT``.
PostgreSQL 15 and later no longer give PUBLIC ``CREATE`` on schema ``public``, but a database
upgraded from 14 keeps the old ACL, so it is revoked where it is still granted. ``USAGE`` on
``public`` stays: it only lets a role see names there (extensions' functions live there), and
the tables in it grant nothing to PUBLIC. Nothing is granted on other services' schemas, so a
service role can use its own schema and nothing else.

How the administrator acts as a service role. ``CREATE SCHEMA … AUTHORIZATION`` and ``SET
ROLE`` need the administrator to be able to become the role. A superuser always can. Up to
PostgreSQL 15 a ``CREATEROLE`` role may grant itself membership of any non-superuser role. From
PostgreSQL 16 (Aurora's default major version here) a ``CREATEROLE`` role that creates a role is
given ``ADMIN`` on it but neither ``INHERIT`` nor ``SET`` (``createrole_self_grant`` is empty by
default), so the bootstrap grants itself ``SET`` (``WITH INHERIT FALSE, SET TRUE``): it can act
as the service, and does not silently inherit the service's rights.

Passwords never appear in logs, and are sent as a SCRAM-SHA-256 verifier computed here (as
``psql``'s ``\\password`` does), so a server that logs DDL never sees them in clear. Whether a
password is already right is learnt by logging in with it: nothing else is readable without
superuser rights, and "the service can log in" is exactly what matters.

Idempotent and safe to run concurrently: every step looks before it changes, and one session
advisory lock serialises whole runs (two tasks started at once: the second waits, then finds
nothing to do). Every change is logged as a JSON line; the last line says how many changes
were made, or that nothing changed.

Environment (read here, next to :class:`colonnade.runtime.settings.Settings`):

``DB_ADMIN_URL``
    ``postgresql://user[:password]@host:port/db?sslmode=…&sslrootcert=…``; or, instead:
``DB_HOST``, ``DB_PORT`` (5432), ``DB_NAME``, ``DB_SSLMODE``, ``DB_SSLROOTCERT``
    the same as separate variables (what the ECS task definition sets).
``DB_ADMIN_SECRET``
    the RDS-managed master secret, JSON ``{"username": …, "password": …}`` (ECS injects it from
    Secrets Manager); with ``DB_ADMIN_URL`` the URL must then carry no password.
``DB_SERVICES``
    comma list of services; default: every ``colonnade.<name>`` package with migrations.
    ``name=package`` names a migrations package elsewhere.
``DB_IAM_AUTH`` (false), ``DB_PASSWORD_<SERVICE>``
    see above; a password with IAM authentication is refused (RDS would ignore it).
``DB_CONNECT_TIMEOUT`` (5 s), ``DB_WAIT_SECONDS`` (0: fail at once), ``LOG_LEVEL`` (INFO).

Exit codes: 0 everything is in place; 1 a database step failed (the message names it); 2 a bad
setting (the message names the variable; a TLS certificate that does not verify is one).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import logging
import os
import re
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import quote, unquote, urlencode, urlsplit

import asyncpg

from colonnade.runtime.config import SettingsError, parse_bool, parse_duration, parse_int
from colonnade.runtime.db import (
    CONNECTION_ERRORS,
    MigrationError,
    apply_migrations,
    load_migrations,
)
from colonnade.runtime.logging import configure_logging
from colonnade.runtime.settings import _LOG_LEVELS, _parse_database_url

log = logging.getLogger("colonnade.migrate")

#: One session advisory lock serialises whole bootstrap runs on a database.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"colonnade-migrate").digest()[:8], "big", signed=True)
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PACKAGE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ROLE_ATTRIBUTES = {  # pg_roles column → the clause that gives a service role the right value
    "rolcanlogin": ("LOGIN", True),
    "rolsuper": ("NOSUPERUSER", False),
    "rolcreatedb": ("NOCREATEDB", False),
    "rolcreaterole": ("NOCREATEROLE", False),
    "rolreplication": ("NOREPLICATION", False),
    "rolbypassrls": ("NOBYPASSRLS", False),
}


class BootstrapError(RuntimeError):
    """A database step failed; the message names the step. Exit code 1."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service that gets a role and a schema, and the package holding its migrations."""

    name: str
    migrations: str

    @property
    def password_variable(self) -> str:
        return f"DB_PASSWORD_{self.name.upper()}"


@dataclass(frozen=True, slots=True)
class BootstrapSettings:
    """Where the database is, who the administrator is, and which services to set up."""

    dsn: str  # postgresql://host:port/db?sslmode=…: no credentials
    database: str
    admin_user: str | None
    admin_password: str | None = field(repr=False)
    services: tuple[ServiceSpec, ...]
    iam_auth: bool
    passwords: Mapping[str, str] = field(repr=False)
    connect_timeout: float = 5.0
    wait_seconds: float = 0.0
    log_level: str = "INFO"
    #: The variable to name when the server's certificate does not verify.
    tls_variable: str = "DB_SSLROOTCERT"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BootstrapSettings:
        """Read and check every variable; a :class:`SettingsError` names the bad one."""
        env = os.environ if environ is None else environ
        level = env.get("LOG_LEVEL", "INFO").strip().upper()
        if level not in _LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, got {level!r}")
        secret_user, secret_password = _admin_secret(env.get("DB_ADMIN_SECRET"))
        if env.get("DB_ADMIN_URL"):
            dsn, database, user, password, tls_variable = _from_admin_url(env)
            if secret_password is not None:
                if password is not None:
                    raise SettingsError(
                        "DB_ADMIN_URL carries a password and DB_ADMIN_SECRET is set: use one"
                    )
                if user is not None and user != secret_user:
                    raise SettingsError(
                        "DB_ADMIN_URL names a user other than DB_ADMIN_SECRET's username"
                    )
                user, password = secret_user, secret_password
        else:
            dsn, database = _from_parts(env)
            user, password, tls_variable = secret_user, secret_password, "DB_SSLROOTCERT"
        iam_auth = parse_bool("DB_IAM_AUTH", env.get("DB_IAM_AUTH", "false"))
        services = _services(env.get("DB_SERVICES"))
        passwords: dict[str, str] = {}
        for spec in services:
            value = env.get(spec.password_variable)
            if value is None or value == "":
                continue
            if iam_auth:
                raise SettingsError(
                    f"{spec.password_variable} is set with DB_IAM_AUTH=true: a role that logs "
                    "in with IAM tokens has no password (set DB_IAM_AUTH=false for a rehearsal)"
                )
            if "\x00" in value:
                raise SettingsError(f"{spec.password_variable} must not contain NUL characters")
            passwords[spec.name] = value
        return cls(
            dsn=dsn,
            database=database,
            admin_user=user,
            admin_password=password,
            services=services,
            iam_auth=iam_auth,
            passwords=passwords,
            connect_timeout=parse_duration(
                "DB_CONNECT_TIMEOUT", env.get("DB_CONNECT_TIMEOUT", "5"), 0.1, 120
            ),
            wait_seconds=parse_duration(
                "DB_WAIT_SECONDS", env.get("DB_WAIT_SECONDS", "0"), 0, 3600
            ),
            log_level=level,
            tls_variable=tls_variable,
        )


def _admin_secret(raw: str | None) -> tuple[str | None, str | None]:
    """(username, password) of the RDS-managed master secret; never echoes its content."""
    if raw is None or not raw.strip():
        return None, None
    try:
        secret = json.loads(raw)
    except ValueError:
        raise SettingsError(
            'DB_ADMIN_SECRET must be JSON like {"username": …, "password": …} (not valid JSON)'
        ) from None
    if not isinstance(secret, dict):
        raise SettingsError('DB_ADMIN_SECRET must be a JSON object {"username", "password"}')
    user, password = secret.get("username"), secret.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise SettingsError('DB_ADMIN_SECRET needs string "username" and "password" fields')
    return user, password


_PART_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE", "DB_SSLROOTCERT")


def _from_admin_url(env: Mapping[str, str]) -> tuple[str, str, str | None, str | None, str]:
    """(dsn without credentials, database, user, password, TLS variable) of DB_ADMIN_URL."""
    raw = _parse_database_url("DB_ADMIN_URL", env["DB_ADMIN_URL"])
    mixed = [name for name in _PART_VARIABLES if env.get(name)]
    if mixed:
        raise SettingsError(
            f"set DB_ADMIN_URL or {', '.join(mixed)}, not both (they would disagree)"
        )
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise SettingsError("DB_ADMIN_URL has a bad port") from None
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise SettingsError("DB_ADMIN_URL must name the database: postgresql://…/dbname")
    _check_tls_query(parts.query)
    netloc = parts.netloc.rpartition("@")[2]
    dsn = f"postgresql://{netloc}/{quote(database, safe='')}"
    if parts.query:
        dsn += f"?{parts.query}"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return dsn, database, user, password, "sslrootcert in DB_ADMIN_URL"


def _check_tls_query(query: str) -> None:
    from urllib.parse import parse_qs

    params = parse_qs(query)
    for mode in params.get("sslmode", []):
        if mode not in SSLMODES:
            raise SettingsError(f"DB_ADMIN_URL sslmode must be one of {', '.join(SSLMODES)}")
    for path in params.get("sslrootcert", []):
        _check_readable("sslrootcert in DB_ADMIN_URL", path)


def _check_readable(variable: str, path: str) -> None:
    if path != "system" and not os.access(path, os.R_OK):
        raise SettingsError(f"{variable}: cannot read the CA bundle {path!r}")


def _from_parts(env: Mapping[str, str]) -> tuple[str, str]:
    """(dsn without credentials, database) from DB_HOST, DB_PORT, DB_NAME, DB_SSL*."""
    host = env.get("DB_HOST", "").strip()
    if not host:
        raise SettingsError("DB_HOST (or DB_ADMIN_URL) is required: where PostgreSQL runs")
    database = env.get("DB_NAME", "").strip()
    if not database:
        raise SettingsError("DB_NAME (or DB_ADMIN_URL) is required: the database to set up")
    port = parse_int("DB_PORT", env.get("DB_PORT", "5432"), 1, 65535)
    query: dict[str, str] = {}
    sslmode = env.get("DB_SSLMODE", "").strip()
    if sslmode:
        if sslmode not in SSLMODES:
            raise SettingsError(f"DB_SSLMODE must be one of {', '.join(SSLMODES)}, got {sslmode!r}")
        query["sslmode"] = sslmode
    rootcert = env.get("DB_SSLROOTCERT", "").strip()
    if rootcert:
        _check_readable("DB_SSLROOTCERT", rootcert)
        query["sslrootcert"] = rootcert
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    dsn = f"postgresql://{netloc}/{quote(database, safe='')}"
    if query:
        dsn += f"?{urlencode(query)}"
    return dsn, database


def discover_services() -> tuple[ServiceSpec, ...]:
    """Every ``colonnade.<name>`` package with a ``migrations`` package holding SQL files."""
    found = []
    for entry in sorted(resources.files("colonnade").iterdir(), key=lambda e: e.name):
        migrations = entry / "migrations"
        if (
            _SERVICE_NAME.match(entry.name)
            and migrations.is_dir()
            and any(f.name.endswith(".sql") for f in migrations.iterdir())
        ):
            found.append(ServiceSpec(entry.name, f"colonnade.{entry.name}.migrations"))
    return tuple(found)


def _services(raw: str | None) -> tuple[ServiceSpec, ...]:
    if raw is None or not raw.strip():
        found = discover_services()
        if not found:
            raise SettingsError("DB_SERVICES is empty and no service package has migrations")
        return found
    specs: list[ServiceSpec] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, _, package = (s.strip() for s in item.partition("="))
        if not _SERVICE_NAME.match(name) or name in {"public", "postgres"}:
            raise SettingsError(
                f"DB_SERVICES: {name!r} is not a service name (lower-case letters, digits, _; "
                "it names the role and the schema)"
            )
        if name.startswith("pg_") or name.startswith("rds"):
            raise SettingsError(f"DB_SERVICES: {name!r} uses a prefix PostgreSQL/RDS reserve")
        if any(spec.name == name for spec in specs):
            raise SettingsError(f"DB_SERVICES names {name!r} twice")
        package = package or f"colonnade.{name}.migrations"
        if not _PACKAGE.match(package) or not _package_exists(package):
            raise SettingsError(
                f"DB_SERVICES: the migrations package {package!r} of {name!r} does not exist"
            )
        specs.append(ServiceSpec(name, package))
    if not specs:
        raise SettingsError("DB_SERVICES names no service")
    return tuple(specs)


def _package_exists(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except ImportError:  # a parent package is missing
        return False


# --- SQL helpers ------------------------------------------------------------------------------


def ident(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """``value`` as a SQL string literal (standard_conforming_strings, the default since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, RFC 7677).

    Sent instead of the password, so it never reaches the server (or its logs) in clear.
    PostgreSQL normalises passwords with SASLprep, which leaves ASCII unchanged; callers
    send non-ASCII passwords in clear and let the server compute the verifier.
    """
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _password_clause(password: str) -> str:
    secret = scram_verifier(password) if password.isascii() else password
    return f"PASSWORD {literal(secret)}"


# --- the bootstrap ----------------------------------------------------------------------------


@dataclass(slots=True)
class Context:
    """What the administrator's session is, learnt once."""

    admin: str
    superuser: bool
    version: int  # server_version_num, e.g. 160004
    database: str
    owns_database: bool
    has_rds_iam: bool


class Bootstrap:
    """One run over one administrator connection; ``changes`` lists what it did."""

    def __init__(self, settings: BootstrapSettings, conn: asyncpg.Connection) -> None:
        self.settings = settings
        self.conn = conn
        self.changes: list[dict[str, str]] = []

    def changed(self, scope: str, what: str) -> None:
        self.changes.append({"scope": scope, "change": what})
        log.info(f"{scope}: {what}", extra={"scope": scope, "change": what})

    async def sql(self, what: str, statement: str) -> None:
        """Run a statement; a failure becomes a :class:`BootstrapError` naming ``what``."""
        try:
            await self.conn.execute(statement)
        except asyncpg.PostgresError as exc:
            raise BootstrapError(f"{what} failed: {exc}") from exc

    async def run(self) -> list[dict[str, str]]:
        """Take the lock, set up the database and every service; return the changes."""
        await self.conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            ctx = await self.context()
            if self.settings.iam_auth and not ctx.has_rds_iam:
                raise SettingsError(
                    "DB_IAM_AUTH=true, but this server has no rds_iam role: it is not RDS or "
                    "Aurora. For a local rehearsal set DB_IAM_AUTH=false and "
                    + ", ".join(s.password_variable for s in self.settings.services)
                )
            await self.secure_database(ctx)
            for spec in self.settings.services:
                await self.service(ctx, spec)
        finally:
            if not self.conn.is_closed():
                await self.conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        return self.changes

    async def context(self) -> Context:
        row = await self.conn.fetchrow(
            "SELECT current_user AS admin, r.rolsuper AS superuser,"
            " current_setting('server_version_num')::int AS version,"
            " current_database() AS database,"
            " pg_has_role(current_user, d.datdba, 'USAGE') AS owns_database,"
            " EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') AS has_rds_iam"
            " FROM pg_roles r, pg_database d"
            " WHERE r.rolname = current_user AND d.datname = current_database()"
        )
        assert row is not None
        return Context(**dict(row))

    async def secure_database(self, ctx: Context) -> None:
        """Take from PUBLIC what no service needs: CONNECT and TEMPORARY, CREATE on public."""
        scope = f"database {ctx.database}"
        public = {
            r["privilege_type"]
            for r in await self.conn.fetch(
                "SELECT a.privilege_type FROM pg_database d,"
                " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a"
                " WHERE d.datname = current_database() AND a.grantee = 0"
            )
        }
        open_to_public = sorted(public & {"CONNECT", "TEMPORARY"})
        if open_to_public and ctx.owns_database:
            privileges = ", ".join(open_to_public)
            await self.sql(
                f"{scope}: revoking {privileges} from PUBLIC",
                f"REVOKE {privileges} ON DATABASE {ident(ctx.database)} FROM PUBLIC",
            )
            self.changed(scope, f"revoked {privileges} from PUBLIC")
        elif open_to_public:
            log.warning(
                f"{scope}: PUBLIC keeps {', '.join(open_to_public)}: {ctx.admin} does not own "
                "the database, so it cannot revoke them",
                extra={"scope": scope},
            )
        row = await self.conn.fetchrow(
            "SELECT EXISTS (SELECT 1 FROM aclexplode(coalesce(n.nspacl,"
            " acldefault('n', n.nspowner))) a WHERE a.grantee = 0"
            " AND a.privilege_type = 'CREATE') AS public_create,"
            " pg_has_role(current_user, n.nspowner, 'USAGE') AS owns_schema"
            " FROM pg_namespace n WHERE n.nspname = 'public'"
        )
        if row is not None and row["public_create"]:
            if row["owns_schema"]:
                await self.sql(
                    f"{scope}: revoking CREATE on schema public from PUBLIC",
                    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                )
                self.changed(scope, "revoked CREATE on schema public from PUBLIC")
            else:
                log.warning(
                    f"{scope}: PUBLIC may still create in schema public: {ctx.admin} does not "
                    "own it (a database upgraded from PostgreSQL 14 or older)",
                    extra={"scope": scope},
                )

    async def service(self, ctx: Context, spec: ServiceSpec) -> None:
        """Role, membership, schema, search_path, CONNECT, password, migrations: in that order."""
        await self.role(spec)
        await self.admin_can_act_as(ctx, spec.name)
        if self.settings.iam_auth:
            await self.rds_iam(spec.name)
        await self.schema(spec.name)
        await self.search_path(spec.name)
        await self.connect_privilege(ctx, spec.name)
        password = self.settings.passwords.get(spec.name)
        if password is not None:
            await self.password(spec, password)
        elif not self.settings.iam_auth:
            log.warning(
                f"{spec.name}: no {spec.password_variable}: the role logs in only where "
                "pg_hba.conf does not ask for a password",
                extra={"scope": spec.name},
            )
        await self.migrate(spec)

    async def role(self, spec: ServiceSpec) -> None:
        name = spec.name
        row = await self.conn.fetchrow(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
            " rolbypassrls FROM pg_roles WHERE rolname = $1",
            name,
        )
        if row is None:
            clauses = " ".join(clause for clause, _ in _ROLE_ATTRIBUTES.values())
            password = self.settings.passwords.get(name)
            if password is not None:
                clauses += " " + _password_clause(password)
            await self.sql(f"{name}: CREATE ROLE", f"CREATE ROLE {ident(name)} {clauses}")
            self.changed(name, "role created" + (" with its password" if password else ""))
            return
        wrong = [
            clause for column, (clause, want) in _ROLE_ATTRIBUTES.items() if row[column] != want
        ]
        if wrong:
            await self.sql(
                f"{name}: ALTER ROLE {' '.join(wrong)}",
                f"ALTER ROLE {ident(name)} {' '.join(wrong)}",
            )
            self.changed(name, f"role attributes corrected: {' '.join(wrong)}")

    async def admin_can_act_as(self, ctx: Context, name: str) -> None:
        """Let the administrator SET ROLE to the service (see the module docstring)."""
        if ctx.superuser:
            return
        privilege = "SET" if ctx.version >= 160000 else "MEMBER"
        if await self.conn.fetchval(
            f"SELECT pg_has_role(current_user, $1::name, '{privilege}')", name
        ):
            return
        options = " WITH INHERIT FALSE, SET TRUE" if ctx.version >= 160000 else ""
        await self.sql(
            f"{name}: letting {ctx.admin} SET ROLE {name}",
            f"GRANT {ident(name)} TO {ident(ctx.admin)}{options}",
        )
        self.changed(name, f"{ctx.admin} may SET ROLE {name}")

    async def rds_iam(self, name: str) -> None:
        if await self.conn.fetchval("SELECT pg_has_role($1::name, 'rds_iam', 'MEMBER')", name):
            return
        await self.sql(f"{name}: GRANT rds_iam", f"GRANT rds_iam TO {ident(name)}")
        self.changed(name, "granted rds_iam (IAM token logins)")

    async def schema(self, name: str) -> None:
        owner = await self.conn.fetchval(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1", name
        )
        if owner is None:
            await self.sql(
                f"{name}: CREATE SCHEMA", f"CREATE SCHEMA {ident(name)} AUTHORIZATION {ident(name)}"
            )
            self.changed(name, f"schema {name} created, owned by {name}")
        elif owner != name:
            await self.sql(
                f"{name}: ALTER SCHEMA OWNER", f"ALTER SCHEMA {ident(name)} OWNER TO {ident(name)}"
            )
            self.changed(name, f"schema {name} given to {name} (was owned by {owner})")

    async def search_path(self, name: str) -> None:
        config = await self.conn.fetchval(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
            " WHERE r.rolname = $1 AND s.setdatabase = 0",
            name,
        )
        if {f"search_path={name}", f"search_path={ident(name)}"} & set(config or ()):
            return
        await self.sql(
            f"{name}: ALTER ROLE SET search_path",
            f"ALTER ROLE {ident(name)} SET search_path = {ident(name)}",
        )
        self.changed(name, f"search_path set to {name}")

    async def connect_privilege(self, ctx: Context, name: str) -> None:
        granted = await self.conn.fetchval(
            "SELECT EXISTS (SELECT FROM pg_database d,"
            " aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a"
            " WHERE d.datname = current_database() AND a.privilege_type = 'CONNECT'"
            " AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1))",
            name,
        )
        if granted:
            return
        if not ctx.owns_database and await self.conn.fetchval(
            "SELECT has_database_privilege($1::name, current_database(), 'CONNECT')", name
        ):
            return  # through PUBLIC, which this administrator cannot change
        await self.sql(
            f"{name}: GRANT CONNECT",
            f"GRANT CONNECT ON DATABASE {ident(ctx.database)} TO {ident(name)}",
        )
        if not await self.conn.fetchval(
            "SELECT has_database_privilege($1::name, current_database(), 'CONNECT')", name
        ):
            raise BootstrapError(
                f"{name}: GRANT CONNECT ON DATABASE {ctx.database} had no effect: "
                f"{ctx.admin} does not own the database"
            )
        self.changed(name, f"may CONNECT to {ctx.database}")

    async def password(self, spec: ServiceSpec, password: str) -> None:
        """Set the password unless logging in with it already works."""
        if await self.can_log_in(spec.name, password):
            return
        await self.sql(
            f"{spec.name}: ALTER ROLE PASSWORD (from {spec.password_variable})",
            f"ALTER ROLE {ident(spec.name)} {_password_clause(password)}",
        )
        self.changed(spec.name, f"password set from {spec.password_variable}")
        if not await self.can_log_in(spec.name, password):
            raise BootstrapError(
                f"{spec.name}: cannot log in with {spec.password_variable} even after setting it"
            )

    async def can_log_in(self, name: str, password: str) -> bool:
        try:
            conn = await asyncpg.connect(
                self.settings.dsn,
                user=name,
                password=password,
                timeout=self.settings.connect_timeout,
                server_settings={"application_name": "colonnade-migrate"},
            )
        except asyncpg.InvalidPasswordError:
            return False
        except (asyncpg.PostgresError, *CONNECTION_ERRORS) as exc:
            raise BootstrapError(f"{name}: logging in as {name} failed: {exc}") from exc
        await conn.close()
        return True

    async def migrate(self, spec: ServiceSpec) -> None:
        """Apply the service's migrations as the service, in its schema."""
        name = spec.name
        try:
            migrations = load_migrations(spec.migrations)
        except (MigrationError, ImportError) as exc:
            raise BootstrapError(
                f"{name}: reading migrations from {spec.migrations}: {exc}"
            ) from exc
        await self.sql(f"{name}: SET ROLE {name}", f"SET ROLE {ident(name)}")
        await self.sql(f"{name}: SET search_path", f"SET search_path = {ident(name)}")
        try:
            applied = await apply_migrations(self.conn, name, migrations)
        except (asyncpg.PostgresError, MigrationError) as exc:
            raise BootstrapError(f"{name}: migrations failed: {exc}") from exc
        await self.sql(f"{name}: RESET ROLE", "RESET ROLE; RESET search_path")
        by_version = {m.version: m.name for m in migrations}
        for version in applied:
            self.changed(name, f"migration {version:04d}_{by_version[version]} applied")


async def connect_admin(settings: BootstrapSettings) -> asyncpg.Connection:
    """The administrator's connection, retried for ``wait_seconds`` while unreachable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.wait_seconds
    delay = 0.2
    where = settings.dsn.split("?")[0]
    while True:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                settings.dsn,
                user=settings.admin_user,
                password=settings.admin_password,
                timeout=settings.connect_timeout,
                server_settings={"application_name": "colonnade-migrate"},
            )
            return conn
        except ssl.SSLCertVerificationError as exc:
            raise SettingsError(
                f"the certificate of {where} does not verify against {settings.tls_variable}: "
                f"{exc.verify_message or exc}"
            ) from exc
        except asyncpg.ClientConfigurationError as exc:
            raise SettingsError(f"connecting to {where}: {exc}") from exc
        except asyncpg.InvalidCatalogNameError as exc:
            raise BootstrapError(f"database {settings.database} does not exist: {exc}") from exc
        except (
            asyncpg.InvalidPasswordError,
            asyncpg.InvalidAuthorizationSpecificationError,
        ) as exc:
            raise BootstrapError(
                f"PostgreSQL at {where} refused the administrator {settings.admin_user or ''}: "
                f"{exc} (check DB_ADMIN_SECRET / DB_ADMIN_URL)"
            ) from exc
        except CONNECTION_ERRORS as exc:
            if loop.time() + delay > deadline:
                raise BootstrapError(
                    f"PostgreSQL at {where} is unreachable: {exc or type(exc).__name__}"
                ) from exc
            log.warning("waiting for the database", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def bootstrap(settings: BootstrapSettings) -> list[dict[str, str]]:
    """Connect as the administrator and set up every service; return what changed."""
    conn = await connect_admin(settings)
    try:
        return await Bootstrap(settings, conn).run()
    except CONNECTION_ERRORS as exc:
        raise BootstrapError(f"lost the database connection: {exc}") from exc
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    """``colonnade-migrate``: exit 0 when everything is in place, 1 on a database error,
    2 on a bad setting."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    configure_logging("migrate", "INFO")
    if args:
        log.error("colonnade-migrate takes no arguments (settings come from the environment)")
        return 2
    try:
        settings = BootstrapSettings.from_env()
        configure_logging("migrate", settings.log_level)
        changes = asyncio.run(bootstrap(settings))
    except SettingsError as exc:
        log.error(f"bad setting: {exc}", extra={"exit_code": 2})
        return 2
    except BootstrapError as exc:
        log.error(str(exc), extra={"exit_code": 1})
        return 1
    services = [spec.name for spec in settings.services]
    summary = f"{len(changes)} change(s)" if changes else "nothing changed"
    log.info(
        f"database bootstrap complete: {summary}",
        extra={"services": services, "changes": changes, "exit_code": 0},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
