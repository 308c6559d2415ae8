"""Typed settings, read once from environment variables.

Every service builds one :class:`Settings` at start-up with
:meth:`Settings.from_env` and passes it down; nothing else reads ``os.environ``.
A bad value fails start-up with a message naming the variable. The parsers and the
layering are :mod:`colonnade.runtime.config`'s, shared with the gateway's configuration;
a service reads the environment layer only (its task definition sets variables).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar
from urllib.parse import urlsplit

from colonnade.runtime import pagetokens
from colonnade.runtime.auth import AuthSettings
from colonnade.runtime.config import (
    SettingsError,
    parse_bool,
    parse_duration,
    parse_float,
    parse_int,
    parse_list,
)
from colonnade.runtime.observability import ObservabilityConfig

__all__ = [
    "CacheNodeAddress",
    "ConfigurationError",
    "Settings",
    "SettingsError",
    "parse_cache_nodes",
    "parse_cache_url",
]

T = TypeVar("T")


class ConfigurationError(SettingsError):
    """A well-formed setting that does not fit what it meets at start-up.

    For example a CA file that did not sign the server's certificate, or a plaintext
    client pointed at a TLS-only server. Never an outage: retrying cannot help, so it
    fails start-up at once. The message names the setting to change.
    """


def _parse_page_token_keys(_name: str, raw: str) -> tuple[str, ...]:
    try:
        return pagetokens.parse_keys(raw)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def redact_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` replaced by ``***``: what an error
    message or a log line may show of a connection URL."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def _parse_database_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"postgres", "postgresql"} or (not parts.hostname and not parts.query):
        # The value is echoed to say what was wrong, without its password (it reaches logs).
        raise SettingsError(
            f"{name} must look like postgresql://user:password@host:5432/dbname, "
            f"got {redact_url(raw)!r}"
        )
    return raw


CacheNodeAddress = tuple[str, int]


def parse_cache_nodes(raw: str, name: str = "CACHE_URL") -> list[CacheNodeAddress]:
    """``memcached://h1:11211,h2:11211`` → ``[("h1", 11211), ("h2", 11211)]``.

    ``""``, ``none`` or ``off`` → ``[]`` (no cache). The port defaults to 11211; an IPv6
    address is written in brackets (``[::1]:11211``). A node listed twice is an error.
    """
    text = raw.strip()
    if text.lower() in {"", "none", "off"}:
        return []
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "memcached", text
    example = "memcached://host:11211 or memcached://h1:11211,h2:11211"
    if scheme.lower() != "memcached" or not rest.strip("/"):
        raise SettingsError(f"{name} must look like {example}, got {raw!r}")
    nodes: list[CacheNodeAddress] = []
    for item in rest.strip("/").split(","):
        parts = urlsplit(f"memcached://{item.strip()}")
        try:
            port = parts.port or 11211
        except ValueError:
            raise SettingsError(f"{name} has a bad port in {item!r}: {raw!r}") from None
        if not parts.hostname or parts.path or parts.query or parts.username:
            raise SettingsError(f"{name} must look like {example}, got {raw!r}")
        if (parts.hostname, port) in nodes:
            raise SettingsError(f"{name} lists {parts.hostname}:{port} twice: {raw!r}")
        nodes.append((parts.hostname, port))
    return nodes


def parse_cache_url(raw: str, name: str = "CACHE_URL") -> CacheNodeAddress | None:
    """``memcached://host:port`` → ``(host, port)``; ``""`` or ``none`` → no cache.

    For a URL that lists one node; :func:`parse_cache_nodes` reads node lists.
    """
    nodes = parse_cache_nodes(raw, name)
    if len(nodes) > 1:
        raise SettingsError(f"{name} lists {len(nodes)} nodes where one is expected: {raw!r}")
    return nodes[0] if nodes else None


_LOG_LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR"}


@dataclass(frozen=True, slots=True)
class Settings:
    """What a service needs to know about its environment."""

    service_name: str = "colonnade"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    database_url: str = "postgresql://postgres@127.0.0.1:5432/colonnade"
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_connect_timeout: float = 5.0
    db_statement_timeout_ms: int = 10_000
    #: asyncpg's prepared-statement cache per connection (0: off, for RDS Proxy).
    db_statement_cache_size: int = 100
    db_iam_auth: bool = False
    aws_region: str = ""
    cache_url: str = "memcached://127.0.0.1:11211"
    cache_ttl_seconds: int = 300
    cache_pool_size: int = 16
    cache_timeout: float = 0.25
    cache_tls: bool = False
    cache_tls_ca_file: str = ""
    cache_tls_server_name: str = ""
    cache_discovery: bool = False
    cache_discovery_interval: float = 60.0
    #: Seconds an entry read from memcached (or loaded) is also served from this process's
    #: memory: the staleness bound for writes made by other processes (0: off).
    cache_local_ttl: float = 0.0
    db_migrate: bool = True
    log_level: str = "INFO"
    log_access: bool = True
    #: The share of successful calls that get an access line (failed calls always do).
    log_access_sample: float = 1.0
    #: Processes serving the gRPC port (SO_REUSEPORT), each with its own pools; the first
    #: process supervises them. ``worker_index`` is set by it for each worker (-1: not one).
    workers: int = 1
    worker_index: int = -1
    shutdown_grace_seconds: float = 10.0
    shutdown_delay_seconds: float = 0.0
    max_concurrent_rpcs: int = 0
    reflection: bool = True
    #: PAGE_TOKEN_KEYS: the page tokens' HMAC keys, the first signs (runtime/pagetokens.py).
    page_token_keys: tuple[str, ...] = ()
    # Observability (colonnade.runtime.observability): the admin port serves /metrics and
    # /status.json (-1: off, 0: a free port); spans go to the listed exporters.
    admin_host: str = "127.0.0.1"
    admin_port: int = -1
    trace_exporters: tuple[str, ...] = ()
    trace_sample_ratio: float = 1.0
    otlp_endpoint: str = "http://127.0.0.1:4317"
    metrics_emf_interval: float = 0.0
    metrics_namespace: str = "Colonnade"

    #: "enforce": every call needs credentials its method's policy accepts; "off": none are
    #: checked. Unset: "enforce" when AUTH_JWKS (or the local HS256 secret) is set.
    auth_mode: str = "off"
    auth_jwks: str = ""
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_leeway: float = 30.0
    auth_allow_hs256: bool = False
    auth_hs256_secret: str = ""
    #: Cognito-shaped access tokens (colonnade.runtime.auth): the `token_use` they must say,
    #: the app clients they may come from, the resource server prefix of their scopes.
    auth_token_use: str = ""
    auth_client_ids: tuple[str, ...] = ()
    auth_scope_prefix: str = ""
    #: Callers whose `x-colonnade-principal`/`-scopes` metadata is believed (the gateway).
    auth_trusted_delegates: tuple[str, ...] = ("service:gateway",)
    #: This service's own identity for calls to others (a PEM private key and its kid).
    service_token_key_file: str = ""
    service_token_kid: str = ""
    service_token_scopes: tuple[str, ...] = ()
    #: Or an identity from a token endpoint (client credentials grant; Cognito in AWS).
    service_token_url: str = ""
    service_client_id: str = ""
    service_client_secret: str = ""

    def auth_settings(self) -> AuthSettings:
        """The token verification settings (shared with the gateway's)."""
        return AuthSettings.of(self)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, service_name: str | None = None
    ) -> Settings:
        """Read every setting from ``environ`` (``os.environ`` by default).

        Names are the field names upper-cased (``GRPC_PORT``, ``DATABASE_URL``…).
        """
        env = os.environ if environ is None else environ
        defaults = cls()

        def get(key: str, parse: Callable[[str, str], T], default: T) -> T:
            raw = env.get(key)
            return default if raw is None else parse(key, raw)

        level = get("LOG_LEVEL", lambda _n, raw: raw.strip().upper(), defaults.log_level)
        if level not in _LOG_LEVELS:
            raise SettingsError(f"LOG_LEVEL must be one of {sorted(_LOG_LEVELS)}, got {level!r}")
        cache_url = env.get("CACHE_URL", defaults.cache_url)
        cache_nodes = parse_cache_nodes(cache_url)
        settings = cls(
            service_name=env.get("SERVICE_NAME", service_name or defaults.service_name),
            grpc_host=env.get("GRPC_HOST", defaults.grpc_host),
            grpc_port=get("GRPC_PORT", lambda n, r: parse_int(n, r, 0, 65535), defaults.grpc_port),
            database_url=get("DATABASE_URL", _parse_database_url, defaults.database_url),
            db_pool_min=get("DB_POOL_MIN", lambda n, r: parse_int(n, r, 0, 1000), 1),
            db_pool_max=get("DB_POOL_MAX", lambda n, r: parse_int(n, r, 1, 1000), 10),
            db_connect_timeout=get(
                "DB_CONNECT_TIMEOUT", lambda n, r: parse_duration(n, r, 0.1, 120), 5.0
            ),
            db_statement_timeout_ms=get(
                "DB_STATEMENT_TIMEOUT_MS", lambda n, r: parse_int(n, r, 0, 3_600_000), 10_000
            ),
            db_statement_cache_size=get(
                "DB_STATEMENT_CACHE_SIZE", lambda n, r: parse_int(n, r, 0, 100_000), 100
            ),
            db_iam_auth=get("DB_IAM_AUTH", parse_bool, False),
            aws_region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
            cache_url=cache_url,
            cache_ttl_seconds=get(
                "CACHE_TTL_SECONDS", lambda n, r: parse_int(n, r, 1, 30 * 86400), 300
            ),
            cache_pool_size=get("CACHE_POOL_SIZE", lambda n, r: parse_int(n, r, 1, 1024), 16),
            cache_timeout=get("CACHE_TIMEOUT", lambda n, r: parse_duration(n, r, 0.001, 30), 0.25),
            cache_tls=get("CACHE_TLS", parse_bool, False),
            cache_tls_ca_file=env.get("CACHE_TLS_CA_FILE", "").strip(),
            cache_tls_server_name=env.get("CACHE_TLS_SERVER_NAME", "").strip(),
            cache_discovery=get("CACHE_DISCOVERY", parse_bool, False),
            cache_discovery_interval=get(
                "CACHE_DISCOVERY_INTERVAL", lambda n, r: parse_duration(n, r, 0.1, 86400), 60.0
            ),
            cache_local_ttl=get("CACHE_LOCAL_TTL", lambda n, r: parse_duration(n, r, 0, 60), 0.0),
            db_migrate=get("DB_MIGRATE", parse_bool, True),
            log_level=level,
            log_access=get("LOG_ACCESS", parse_bool, True),
            log_access_sample=get(
                "LOG_ACCESS_SAMPLE", lambda n, r: parse_float(n, r, 0.0, 1.0), 1.0
            ),
            workers=get("WORKERS", lambda n, r: parse_int(n, r, 1, 64), 1),
            worker_index=get("WORKER_INDEX", lambda n, r: parse_int(n, r, -1, 63), -1),
            shutdown_grace_seconds=get(
                "SHUTDOWN_GRACE_SECONDS", lambda n, r: parse_duration(n, r, 0, 600), 10.0
            ),
            shutdown_delay_seconds=get(
                "SHUTDOWN_DELAY_SECONDS", lambda n, r: parse_duration(n, r, 0, 600), 0.0
            ),
            max_concurrent_rpcs=get(
                "MAX_CONCURRENT_RPCS", lambda n, r: parse_int(n, r, 0, 1_000_000), 0
            ),
            reflection=get("GRPC_REFLECTION", parse_bool, True),
            page_token_keys=get(pagetokens.KEYS_VARIABLE, _parse_page_token_keys, ()),
            auth_jwks=env.get("AUTH_JWKS", "").strip(),
            auth_issuer=env.get("AUTH_ISSUER", "").strip(),
            auth_audience=env.get("AUTH_AUDIENCE", "").strip(),
            auth_leeway=get("AUTH_LEEWAY", lambda n, r: parse_duration(n, r, 0, 300), 30.0),
            auth_allow_hs256=get("AUTH_ALLOW_HS256", parse_bool, False),
            auth_hs256_secret=env.get("AUTH_HS256_SECRET", ""),
            auth_token_use=env.get("AUTH_TOKEN_USE", "").strip(),
            auth_client_ids=tuple(get("AUTH_CLIENT_IDS", parse_list, [])),
            auth_scope_prefix=env.get("AUTH_SCOPE_PREFIX", "").strip(),
            auth_trusted_delegates=tuple(
                get("AUTH_TRUSTED_DELEGATES", parse_list, ["service:gateway"])
            ),
            service_token_key_file=env.get("SERVICE_TOKEN_KEY_FILE", "").strip(),
            service_token_kid=env.get("SERVICE_TOKEN_KID", "").strip(),
            service_token_scopes=tuple(get("SERVICE_TOKEN_SCOPES", parse_list, [])),
            service_token_url=env.get("SERVICE_TOKEN_URL", "").strip(),
            service_client_id=env.get("SERVICE_CLIENT_ID", "").strip(),
            service_client_secret=env.get("SERVICE_CLIENT_SECRET", "").strip(),
            admin_host=env.get("ADMIN_HOST", defaults.admin_host).strip(),
            admin_port=get("ADMIN_PORT", lambda n, r: parse_int(n, r, -1, 65535), -1),
            trace_exporters=tuple(get("TRACE_EXPORTERS", parse_list, [])),
            trace_sample_ratio=get(
                "TRACE_SAMPLE_RATIO", lambda n, r: parse_float(n, r, 0.0, 1.0), 1.0
            ),
            otlp_endpoint=env.get("OTLP_ENDPOINT", defaults.otlp_endpoint).strip(),
            metrics_emf_interval=get(
                "METRICS_EMF_INTERVAL", lambda n, r: parse_duration(n, r, 0, 3600), 0.0
            ),
            metrics_namespace=env.get("METRICS_NAMESPACE", defaults.metrics_namespace).strip(),
        )
        has_keys = bool(settings.auth_jwks or settings.auth_hs256_secret)
        mode = env.get("AUTH_MODE", "enforce" if has_keys else "off").strip().lower()
        if mode not in {"enforce", "off"}:
            raise SettingsError(f"AUTH_MODE must be enforce or off, got {mode!r}")
        if mode == "enforce" and not has_keys:
            raise SettingsError("AUTH_MODE=enforce needs AUTH_JWKS (a JWKS file or URL)")
        try:
            settings.auth_settings().check()
        except ValueError as exc:
            raise SettingsError(f"AUTH_*: {exc}") from None
        if settings.service_token_key_file and not settings.service_token_kid:
            raise SettingsError("SERVICE_TOKEN_KEY_FILE needs SERVICE_TOKEN_KID")
        if settings.service_token_url and settings.service_token_key_file:
            raise SettingsError("SERVICE_TOKEN_URL and SERVICE_TOKEN_KEY_FILE: choose one identity")
        if settings.service_token_url and not (
            settings.service_client_id and settings.service_client_secret
        ):
            raise SettingsError(
                "SERVICE_TOKEN_URL needs SERVICE_CLIENT_ID and SERVICE_CLIENT_SECRET"
            )
        settings = dataclasses.replace(settings, auth_mode=mode)
        if settings.db_iam_auth and not settings.aws_region:
            raise SettingsError("DB_IAM_AUTH needs AWS_REGION (ECS and EKS set it)")
        if (
            settings.cache_tls_ca_file or settings.cache_tls_server_name
        ) and not settings.cache_tls:
            raise SettingsError(
                "CACHE_TLS_CA_FILE and CACHE_TLS_SERVER_NAME only apply with CACHE_TLS=true"
            )
        if settings.cache_discovery and len(cache_nodes) > 1:
            raise SettingsError(
                "CACHE_DISCOVERY=true reads the node list from one configuration endpoint: "
                f"CACHE_URL must name that one host, got {len(cache_nodes)} nodes"
            )
        if settings.workers > 1 and settings.grpc_port == 0:
            raise SettingsError(
                f"WORKERS={settings.workers} share one port: GRPC_PORT must be fixed, not 0"
            )
        if settings.worker_index >= settings.workers:
            raise SettingsError(
                f"WORKER_INDEX ({settings.worker_index}) must be below WORKERS ({settings.workers})"
            )
        if settings.db_pool_min > settings.db_pool_max:
            raise SettingsError(
                f"DB_POOL_MIN ({settings.db_pool_min}) must not exceed "
                f"DB_POOL_MAX ({settings.db_pool_max})"
            )
        return settings

    def observability(self) -> ObservabilityConfig:
        """What :class:`~colonnade.runtime.observability.Observability` needs of these."""
        return ObservabilityConfig(
            service=self.service_name,
            trace_exporters=self.trace_exporters,
            trace_sample_ratio=self.trace_sample_ratio,
            otlp_endpoint=self.otlp_endpoint,
            emf_interval=self.metrics_emf_interval,
            emf_namespace=self.metrics_namespace,
            admin_host=self.admin_host,
            admin_port=self.admin_port_of_worker(),
        )

    def admin_port_of_worker(self) -> int:
        """This process's admin port: worker ``i`` of a group serves ``ADMIN_PORT + i`` (each
        worker has its own metrics), ``0`` and ``-1`` mean what they mean for one process."""
        if self.admin_port > 0 and self.worker_index > 0:
            return self.admin_port + self.worker_index
        return self.admin_port

    @classmethod
    def variable_names(cls) -> list[str]:
        """The environment variables :meth:`from_env` reads, for documentation."""
        renamed = {"reflection": "GRPC_REFLECTION"}
        return [renamed.get(f.name, f.name.upper()) for f in fields(cls)]
