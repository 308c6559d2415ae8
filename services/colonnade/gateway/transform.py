"""Header transformation per route, and the security headers every answer carries.

Rules come from a TOML file (`transforms_file`); each applies to the methods its `methods`
patterns match (`fnmatch` over full method names, `*` for all), in file order:

    [[rule]]
    methods = ["colonnade.catalog.v1.CatalogService.*"]
    # request headers -> gRPC metadata
    request_add = { "x-tenant" = "public-web" }           # metadata added (replaces a client's)
    request_remove = ["cookie", "user-agent"]              # headers never forwarded
    request_rename = { "x-client-version" = "client-version" }  # header -> metadata key
    # response headers
    response_add = { "cache-control" = "no-store" }        # set (replaces the backend's)
    response_remove = ["grpc-metadata-x-internal-*"]       # dropped (exact names or prefix*)

`request_remove` drops a header whatever form it took as metadata (`<name>`,
`grpcgateway-<name>` for IANA headers, or `Grpc-Metadata-<name>`'s key). Header names are
case-insensitive; values must be printable ASCII (what metadata can carry).

Security headers (`security_headers`, on by default) go on every answer, errors and the
docs included: `Strict-Transport-Security: max-age=31536000; includeSubDomains` (browsers
only honour it over HTTPS, which the ALB/CloudFront terminate), `X-Content-Type-Options:
nosniff`, `X-Frame-Options: DENY` and `Referrer-Policy: no-referrer`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from colonnade.gateway.errors import ConfigError
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.headers import printable
from colonnade.gateway.pipeline import Step, StepResult
from colonnade.gateway.responses import Response
from colonnade.runtime.config import read_toml

SECURITY_HEADERS = (
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
_KEYS = {
    "methods",
    "request_add",
    "request_remove",
    "request_rename",
    "response_add",
    "response_remove",
}


@dataclass(frozen=True)
class Rule:
    """One rule of the transforms file."""

    methods: tuple[str, ...]
    request_add: tuple[tuple[bytes, bytes], ...] = ()
    request_remove: frozenset[bytes] = frozenset()
    request_rename: tuple[tuple[bytes, bytes], ...] = ()
    response_add: tuple[tuple[bytes, bytes], ...] = ()
    response_remove: tuple[bytes, ...] = field(default=())

    def applies(self, method: str) -> bool:
        """The rule covers the method (full name)."""
        return any(fnmatch.fnmatchcase(method, p) for p in self.methods)


def _pairs(where: str, raw: object) -> tuple[tuple[bytes, bytes], ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table of header = value")
    out = []
    for k, v in raw.items():
        key, value = str(k).lower().encode(), str(v).encode()
        if not printable(key) or not printable(value):
            raise ConfigError(f"{where}: {k!r} = {v!r} is not printable ASCII")
        out.append((key, value))
    return tuple(out)


def _names(where: str, raw: object) -> tuple[bytes, ...]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        raise ConfigError(f"{where}: must be a list of header names")
    return tuple(x.lower().encode() for x in raw)


def parse_rules(data: Mapping[str, Any], where: str = "transforms") -> list[Rule]:
    """The rules of a parsed transforms document; ConfigError naming what is wrong."""
    rules = []
    for i, raw in enumerate(data.get("rule", [])):
        at = f"{where}: rule {i + 1}"
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        methods = raw.get("methods", ["*"])
        if isinstance(methods, str):
            methods = [methods]
        rules.append(
            Rule(
                methods=tuple(methods),
                request_add=_pairs(f"{at}.request_add", raw.get("request_add", {})),
                request_remove=frozenset(
                    _names(f"{at}.request_remove", raw.get("request_remove", []))
                ),
                request_rename=_pairs(f"{at}.request_rename", raw.get("request_rename", {})),
                response_add=_pairs(f"{at}.response_add", raw.get("response_add", {})),
                response_remove=_names(f"{at}.response_remove", raw.get("response_remove", [])),
            )
        )
    return rules


def load_rules(path: str) -> list[Rule]:
    """The rules of a transforms TOML file."""
    try:
        return parse_rules(read_toml(path), path)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class Transform(Step):
    """Applies the rules that cover the route's method (module docstring)."""

    name = "transform"

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._by_method: dict[str, list[Rule]] = {}

    def _rules(self, method: str) -> list[Rule]:
        found = self._by_method.get(method)
        if found is None:
            found = self._by_method[method] = [r for r in self.rules if r.applies(method)]
        return found

    def request(self, ex: Exchange) -> StepResult:
        for rule in self._rules(ex.endpoint.route.service + "." + ex.endpoint.route.method):
            md = ex.metadata
            if rule.request_remove:
                gone = rule.request_remove
                md[:] = [
                    (k, v)
                    for k, v in md
                    if k not in gone and k.removeprefix(b"grpcgateway-") not in gone
                ]
            for header, key in rule.request_rename:
                for name, value in ex.headers:
                    if name == header and printable(value):
                        md[:] = [(k, v) for k, v in md if k != key]
                        md.append((key, value))
            for key, value in rule.request_add:
                md[:] = [(k, v) for k, v in md if k != key]
                md.append((key, value))
        return None

    def response(self, ex: Exchange, response: Response) -> None:
        if not hasattr(ex, "endpoint"):
            return
        for rule in self._rules(ex.endpoint.route.service + "." + ex.endpoint.route.method):
            headers = response.headers
            for pattern in rule.response_remove:
                if pattern.endswith(b"*"):
                    prefix = pattern[:-1]
                    headers[:] = [(k, v) for k, v in headers if not k.startswith(prefix)]
                else:
                    headers[:] = [(k, v) for k, v in headers if k != pattern]
            for key, value in rule.response_add:
                headers[:] = [(k, v) for k, v in headers if k != key]
                headers.append((key, value))


class SecurityHeaders(Step):
    """Adds the security headers to every answer (first in the pipeline)."""

    name = "security-headers"

    def request(self, ex: Exchange) -> StepResult:
        ex.response_headers += SECURITY_HEADERS
        return None
