"""Gateway configuration: defaults < TOML file < environment < command-line flags.

The layering and the parsers are :mod:`colonnade.runtime.config`'s, the ones every service's
settings use: one boolean syntax, one duration syntax (``default_timeout = "30s"`` or ``30``).
Environment variables are `COLONNADE_GATEWAY_<KEY>` (upper case); lists are comma-separated
(`COLONNADE_GATEWAY_BACKENDS="a.v1=h:1,b.v1=h:2"`). The file (`--config` or
`COLONNADE_GATEWAY_CONFIG`) is TOML with the same keys:

    descriptors = ["/srv/colonnade.binpb"]   # default: colonnade.descriptors.descriptor_set()
    host = "0.0.0.0"
    port = 8080
    [backends]
    "colonnade.catalog.v1.CatalogService" = "catalog:50051"

The result is a frozen :class:`GatewayConfig`, built once by :func:`load`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from colonnade.descriptors import descriptor_set
from colonnade.gateway.errors import ConfigError
from colonnade.gateway.rpc import CLIENTS, NATIVE
from colonnade.gateway.server import Limits
from colonnade.runtime.auth import AuthSettings
from colonnade.runtime.config import (
    Layer,
    Parser,
    SettingsError,
    build,
    parse_bool,
    parse_duration,
    parse_float,
    parse_int,
    parse_list,
    read_toml,
)
from colonnade.runtime.observability import ObservabilityConfig

ENV_PREFIX = "COLONNADE_GATEWAY_"
#: The descriptor set `make gen` / `pip install` builds for Colonnade's own services.
PACKAGED_DESCRIPTORS = descriptor_set()

__all__ = ["ConfigError", "GatewayConfig", "from_env", "load"]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Everything the gateway reads at start-up."""

    descriptors: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)  # "service-or-package=host:port"
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    reuse_port: bool = False
    channels_per_backend: int = 2
    grpc_client: str = NATIVE  # "native" (grpcwire) or "grpcio" (grpc.aio), see rpc.py
    strict: bool = False  # reject unknown query parameters and path/body collisions
    form_post_as_get: bool = False  # grpc-gateway's path-length fallback, see the README
    default_timeout: float = 30.0  # seconds; 0 means no deadline without Grpc-Timeout
    max_body_bytes: int = 4 * 1024 * 1024
    max_message_bytes: int = 16 * 1024 * 1024
    # What one client connection may take of the HTTP server (server.Limits): the head within
    # header_timeout and max_header_bytes / max_header_count (else 408 / 431), the body's next
    # piece within body_timeout (else 408), an idle keep-alive connection kept this long.
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 75.0
    max_header_bytes: int = 16 * 1024
    max_header_count: int = 100
    cors_origins: list[str] = field(default_factory=list)  # "*" allows any origin
    cors_max_age: int = 600
    emit_unpopulated: bool = True
    access_log: bool = False
    # -- edge policies (README "Edge policies"): declared per method in the protos --------
    policies: bool = True  # off: a plain transcoder (no policy checks at all)
    auth_jwks: str = ""  # JWKS file or https:// URL
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_leeway: float = 30.0
    auth_allow_hs256: bool = False  # local development only
    auth_hs256_secret: str = ""
    auth_jwks_max_age: float = 300.0
    auth_jwks_min_refresh: float = 30.0
    # Cognito-shaped access tokens (runtime/auth.py): "access", the app client ids, the
    # resource server identifier and "/"
    auth_token_use: str = ""
    auth_client_ids: list[str] = field(default_factory=list)
    auth_scope_prefix: str = ""
    api_keys_file: str = ""  # JSON: {"keys": [{"id", "sha256", "principal", "scopes", "tier"}]}
    api_keys: str = ""  # the same JSON document itself (in AWS: from a secret)
    service_token_key_file: str = ""  # the gateway's own identity towards the services
    service_token_kid: str = ""
    # or client credentials from a token endpoint (Cognito in AWS): the gateway's app client
    service_token_url: str = ""
    service_client_id: str = ""
    service_client_secret: str = ""
    # "class=PER_SECOND/PER_MINUTE"; every class a routed method names needs an entry
    rate_limits: list[str] = field(
        default_factory=lambda: [
            "read=50/1000",
            "write=10/200",
            "standard=20/600",
            "internal=100/3000",
        ]
    )
    policy_cache_url: str = ""  # memcached://host:port shared by the replicas; "" = none
    policy_cache_timeout: float = 0.25  # per command; a timeout counts as memcached down
    policy_cache_pool_size: int = 32  # connections per node
    # ElastiCache: TLS to every node (in-transit encryption) and Auto Discovery of the nodes
    # from the URL's configuration endpoint, as the services' CACHE_TLS* / CACHE_DISCOVERY
    policy_cache_tls: bool = False
    policy_cache_tls_ca_file: str = ""
    policy_cache_tls_server_name: str = ""
    policy_cache_discovery: bool = False
    replicas: int = 1  # gateway replicas: per-replica limits are limit / replicas
    trust_forwarded_for: bool = False  # the client address is X-Forwarded-For's last hop
    response_cache: bool = True  # cache GETs whose policy declares a TTL (needs the URL)
    transforms_file: str = ""  # TOML header rules per route (README "Transformation")
    security_headers: bool = True  # HSTS, X-Content-Type-Options, … on every response
    # Observability (gateway/observe.py): spans to these exporters (otlp, stdout, file:PATH,
    # memory), requests without a traceparent sampled with this probability; EMF lines every
    # interval (0: none); the /status page reads each `name=http://host:port` admin port.
    trace_exporters: list[str] = field(default_factory=list)
    trace_sample_ratio: float = 1.0
    otlp_endpoint: str = "http://127.0.0.1:4317"
    metrics_emf_interval: float = 0.0
    metrics_namespace: str = "Colonnade"
    status_sources: list[str] = field(default_factory=list)

    def observability(self) -> ObservabilityConfig:
        """The gateway's :class:`ObservabilityConfig` (its metrics are on its own port)."""
        return ObservabilityConfig(
            service="gateway",
            trace_exporters=tuple(self.trace_exporters),
            trace_sample_ratio=self.trace_sample_ratio,
            otlp_endpoint=self.otlp_endpoint,
            emf_interval=self.metrics_emf_interval,
            emf_namespace=self.metrics_namespace,
        )

    def limits(self) -> Limits:
        """The HTTP server's per-connection limits."""
        return Limits(
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            keep_alive_timeout=self.keep_alive_timeout,
            max_header_bytes=self.max_header_bytes,
            max_header_count=self.max_header_count,
        )

    def validate(self) -> GatewayConfig:
        """This configuration, checked; raises ConfigError for values the gateway cannot run
        with.

        With no descriptor set given, the one installed with the package (all of
        Colonnade's own services) is used, so a container needs only its backends.
        """
        cfg = self
        if not cfg.descriptors and PACKAGED_DESCRIPTORS.exists():
            cfg = dataclasses.replace(cfg, descriptors=[str(PACKAGED_DESCRIPTORS)])
        if not cfg.descriptors:
            raise ConfigError("descriptors: at least one descriptor set is needed")
        if not cfg.backends:
            raise ConfigError("backends: at least one SERVICE=HOST:PORT is needed")
        if not 0 <= cfg.port <= 65535:
            raise ConfigError(f"port: {cfg.port} is not a TCP port")
        if cfg.workers < 1:
            raise ConfigError("workers: must be at least 1")
        if cfg.channels_per_backend < 1:
            raise ConfigError("channels_per_backend: must be at least 1")
        if cfg.grpc_client not in CLIENTS:
            raise ConfigError(
                f"grpc_client: {cfg.grpc_client!r} is not one of {', '.join(CLIENTS)}"
            )
        if cfg.max_body_bytes < 1:
            raise ConfigError("max_body_bytes: must be positive")
        for name in ("header_timeout", "body_timeout", "keep_alive_timeout"):
            if getattr(cfg, name) <= 0:
                raise ConfigError(f"{name}: must be positive")
        if cfg.max_header_bytes < 1024 or cfg.max_header_count < 8:
            raise ConfigError("max_header_bytes / max_header_count: at least 1024 / 8")
        if cfg.default_timeout < 0:
            raise ConfigError("default_timeout: must be 0 (none) or positive")
        if cfg.replicas < 1:
            raise ConfigError("replicas: must be at least 1")
        if cfg.service_token_key_file and not cfg.service_token_kid:
            raise ConfigError("service_token_kid: needed with service_token_key_file")
        if cfg.api_keys and cfg.api_keys_file:
            raise ConfigError("api_keys: give the document or api_keys_file, not both")
        if cfg.service_token_url and cfg.service_token_key_file:
            raise ConfigError("service_token_url: choose it or service_token_key_file, not both")
        if cfg.service_token_url and not (cfg.service_client_id and cfg.service_client_secret):
            raise ConfigError("service_token_url: needs service_client_id and _secret")
        try:
            cfg.auth_settings().check()
        except ValueError as exc:
            raise ConfigError(f"auth: {exc}") from None
        if not 0 <= cfg.trace_sample_ratio <= 1:
            raise ConfigError("trace_sample_ratio: must be between 0 and 1")
        return cfg

    def auth_settings(self) -> AuthSettings:
        """Token and API key verification settings (colonnade.runtime.auth)."""
        return AuthSettings.of(self)


#: How each setting is read (a setting not listed is text).
PARSERS: dict[str, Parser] = {
    "descriptors": parse_list,
    "backends": parse_list,
    "cors_origins": parse_list,
    "port": parse_int,
    "workers": parse_int,
    "channels_per_backend": parse_int,
    "max_body_bytes": parse_int,
    "max_message_bytes": parse_int,
    "header_timeout": parse_duration,
    "body_timeout": parse_duration,
    "keep_alive_timeout": parse_duration,
    "max_header_bytes": parse_int,
    "max_header_count": parse_int,
    "cors_max_age": parse_int,
    "reuse_port": parse_bool,
    "strict": parse_bool,
    "emit_unpopulated": parse_bool,
    "access_log": parse_bool,
    "default_timeout": parse_duration,
    "policies": parse_bool,
    "auth_leeway": parse_duration,
    "auth_allow_hs256": parse_bool,
    "auth_jwks_max_age": parse_duration,
    "auth_jwks_min_refresh": parse_duration,
    "auth_client_ids": parse_list,
    "rate_limits": parse_list,
    "replicas": parse_int,
    "policy_cache_timeout": parse_duration,
    "policy_cache_pool_size": parse_int,
    "policy_cache_tls": parse_bool,
    "policy_cache_discovery": parse_bool,
    "trust_forwarded_for": parse_bool,
    "response_cache": parse_bool,
    "security_headers": parse_bool,
    "trace_exporters": parse_list,
    "status_sources": parse_list,
    "trace_sample_ratio": parse_float,
    "metrics_emf_interval": parse_duration,
}


def from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `COLONNADE_GATEWAY_*` variables as settings."""
    env = os.environ if env is None else env
    names = {f.name for f in fields(GatewayConfig)}
    out: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            name = key[len(ENV_PREFIX) :].lower()
            if name in names:
                out[name] = value
            elif name != "config":
                raise ConfigError(f"environment: unknown setting {key}")
    return out


def load(
    *,
    file: str | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> GatewayConfig:
    """The checked configuration from every layer: defaults < file < environment < flags.

    The file is ``file`` or else ``COLONNADE_GATEWAY_CONFIG``; ``flags`` holds only the flags
    given (``None`` values set nothing).
    """
    env = os.environ if env is None else env
    layers: list[Layer] = []
    try:
        path = file or env.get(f"{ENV_PREFIX}CONFIG")
        if path:
            layers.append((f"config file {path}", read_toml(path)))
        layers.append(("environment", from_env(env)))
        layers.append(("command line", flags or {}))
        cfg = build(GatewayConfig, layers, PARSERS)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None
    return cfg.validate()
