"""Typed settings, read once from environment variables.

Every service builds one :class:`Settings` at start-up with
:meth:`Settings.from_env` and passes it down; nothing else reads ``os.environ``.
A bad value fails start-up with a message naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _parse_int(name: str, raw: str, minimum: int, maximum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _parse_float(name: str, raw: str, minimum: float, maximum: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _parse_database_url(name: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"postgres", "postgresql"} or (not parts.hostname and not parts.query):
        raise SettingsError(
            f"{name} must look like postgresql://user:password@host:5432/dbname, got {raw!r}"
        )
    return raw


def parse_cache_url(raw: str, name: str = "CACHE_URL") -> tuple[str, int] | None:
    """``memcached://host:port`` → ``(host, port)``; ``""`` or ``none`` → no cache."""
    if raw.strip().lower() in {"", "none", "off"}:
        return None
    parts = urlsplit(raw if "://" in raw else f"memcached://{raw}")
    if parts.scheme != "memcached" or not parts.hostname:
        raise SettingsError(f"{name} must look like memcached://host:11211, got {raw!r}")
    try:
        port = parts.port or 11211
    except ValueError:
        raise SettingsError(f"{name} has a bad port: {raw!r}") from None
    return parts.hostname, port


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
    db_iam_auth: bool = False
    aws_region: str = ""
    cache_url: str = "memcached://127.0.0.1:11211"
    cache_ttl_seconds: int = 300
    cache_pool_size: int = 16
    cache_timeout: float = 0.25
    log_level: str = "INFO"
    log_access: bool = True
    shutdown_grace_seconds: float = 10.0
    shutdown_delay_seconds: float = 0.0
    max_concurrent_rpcs: int = 0
    reflection: bool = True

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
        parse_cache_url(cache_url)
        settings = cls(
            service_name=env.get("SERVICE_NAME", service_name or defaults.service_name),
            grpc_host=env.get("GRPC_HOST", defaults.grpc_host),
            grpc_port=get("GRPC_PORT", lambda n, r: _parse_int(n, r, 0, 65535), defaults.grpc_port),
            database_url=get("DATABASE_URL", _parse_database_url, defaults.database_url),
            db_pool_min=get("DB_POOL_MIN", lambda n, r: _parse_int(n, r, 0, 1000), 1),
            db_pool_max=get("DB_POOL_MAX", lambda n, r: _parse_int(n, r, 1, 1000), 10),
            db_connect_timeout=get(
                "DB_CONNECT_TIMEOUT", lambda n, r: _parse_float(n, r, 0.1, 120), 5.0
            ),
            db_statement_timeout_ms=get(
                "DB_STATEMENT_TIMEOUT_MS", lambda n, r: _parse_int(n, r, 0, 3_600_000), 10_000
            ),
            db_iam_auth=get("DB_IAM_AUTH", _parse_bool, False),
            aws_region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", "")),
            cache_url=cache_url,
            cache_ttl_seconds=get(
                "CACHE_TTL_SECONDS", lambda n, r: _parse_int(n, r, 1, 30 * 86400), 300
            ),
            cache_pool_size=get("CACHE_POOL_SIZE", lambda n, r: _parse_int(n, r, 1, 1024), 16),
            cache_timeout=get("CACHE_TIMEOUT", lambda n, r: _parse_float(n, r, 0.001, 30), 0.25),
            log_level=level,
            log_access=get("LOG_ACCESS", _parse_bool, True),
            shutdown_grace_seconds=get(
                "SHUTDOWN_GRACE_SECONDS", lambda n, r: _parse_float(n, r, 0, 600), 10.0
            ),
            shutdown_delay_seconds=get(
                "SHUTDOWN_DELAY_SECONDS", lambda n, r: _parse_float(n, r, 0, 600), 0.0
            ),
            max_concurrent_rpcs=get(
                "MAX_CONCURRENT_RPCS", lambda n, r: _parse_int(n, r, 0, 1_000_000), 0
            ),
            reflection=get("GRPC_REFLECTION", _parse_bool, True),
        )
        if settings.db_iam_auth and not settings.aws_region:
            raise SettingsError("DB_IAM_AUTH needs AWS_REGION (ECS and EKS set it)")
        if settings.db_pool_min > settings.db_pool_max:
            raise SettingsError(
                f"DB_POOL_MIN ({settings.db_pool_min}) must not exceed "
                f"DB_POOL_MAX ({settings.db_pool_max})"
            )
        return settings

    @classmethod
    def variable_names(cls) -> list[str]:
        """The environment variables :meth:`from_env` reads, for documentation."""
        renamed = {"reflection": "GRPC_REFLECTION"}
        return [renamed.get(f.name, f.name.upper()) for f in fields(cls)]
