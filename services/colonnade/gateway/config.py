"""Gateway configuration: defaults < TOML file < environment < command-line flags.

Environment variables are `COLONNADE_GATEWAY_<KEY>` (upper case); lists are comma-separated
(`COLONNADE_GATEWAY_BACKENDS="a.v1=h:1,b.v1=h:2"`). The file is TOML with the same keys:

    descriptors = ["services/colonnade/descriptors/colonnade.binpb"]
    host = "0.0.0.0"
    port = 8080
    [backends]
    "colonnade.catalog.v1.CatalogService" = "catalog:50051"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from colonnade.gateway.errors import ConfigError
from colonnade.gateway.rpc import CLIENTS, NATIVE

ENV_PREFIX = "COLONNADE_GATEWAY_"
#: The descriptor set `make gen` / `pip install` builds for Colonnade's own services.
PACKAGED_DESCRIPTORS = Path(__file__).resolve().parent.parent / "descriptors" / "colonnade.binpb"

__all__ = ["ConfigError", "GatewayConfig", "from_env", "from_file", "merge"]


@dataclass
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
    cors_origins: list[str] = field(default_factory=list)  # "*" allows any origin
    cors_max_age: int = 600
    emit_unpopulated: bool = True
    access_log: bool = False

    def validate(self) -> None:
        """Raises ConfigError for values the gateway cannot run with.

        With no descriptor set given, the one installed with the package (all of
        Colonnade's own services) is used, so a container needs only its backends.
        """
        if not self.descriptors and PACKAGED_DESCRIPTORS.exists():
            self.descriptors = [str(PACKAGED_DESCRIPTORS)]
        if not self.descriptors:
            raise ConfigError("descriptors: at least one descriptor set is needed")
        if not self.backends:
            raise ConfigError("backends: at least one SERVICE=HOST:PORT is needed")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port: {self.port} is not a TCP port")
        if self.workers < 1:
            raise ConfigError("workers: must be at least 1")
        if self.channels_per_backend < 1:
            raise ConfigError("channels_per_backend: must be at least 1")
        if self.grpc_client not in CLIENTS:
            raise ConfigError(
                f"grpc_client: {self.grpc_client!r} is not one of {', '.join(CLIENTS)}"
            )
        if self.max_body_bytes < 1:
            raise ConfigError("max_body_bytes: must be positive")
        if self.default_timeout < 0:
            raise ConfigError("default_timeout: must be 0 (none) or positive")


def _coerce(name: str, kind: Any, value: Any) -> Any:
    try:
        if kind is bool or kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(f"{value!r} is not a boolean")
        if kind is int or kind == "int":
            return int(value)
        if kind is float or kind == "float":
            return float(value)
        if kind == "list[str]":
            if isinstance(value, str):
                return [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(value, Mapping):  # backends as a TOML table
                return [f"{k}={v}" for k, v in value.items()]
            return [str(v) for v in value]
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {exc}") from None


def merge(cfg: GatewayConfig, values: Mapping[str, Any], source: str) -> GatewayConfig:
    """Applies known keys of `values` (unknown keys are an error naming the source)."""
    kinds = {f.name: f.type for f in fields(GatewayConfig)}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in kinds:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        if value is None:
            continue
        setattr(cfg, name, _coerce(f"{source}: {name}", kinds[name], value))
    return cfg


def from_file(path: str | Path) -> dict[str, Any]:
    """Reads a TOML configuration file."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None


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
