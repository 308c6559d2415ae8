"""Edge policies declared in the contracts (`colonnade.api.v1.policy`), read once.

Every RPC says who may call it (`public`, or the scopes the caller must hold), which
rate-limit class its calls count in, and how long a GET answer may be cached. A method's
policy is its service's `default_policy` with the fields the method sets put over it.
The REST gateway, every service's auth interceptor and the OpenAPI generator read them
through :func:`service_policies`; a method that ends up with no policy, or with one that is
neither public nor names a scope, is refused at start-up (:class:`PolicyError`), so nothing
is left open by omission.

The options are read from serialized option bytes with the generated classes, so the
gateway's private descriptor pool and a service's generated modules give the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor, descriptor_pb2

from colonnade.api.v1 import policy_pb2

#: RFC 6749 §3.3 scope-token characters.
_SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+\Z")
_CLASS = re.compile(r"[a-z][a-z0-9_-]{0,31}\Z")
#: The class of a method whose policy (and service default) names none.
DEFAULT_RATE_LIMIT_CLASS = "standard"
#: API Gateway's stage cache keeps an entry at most an hour; so does ours.
MAX_CACHE_TTL = 3600


class PolicyError(ValueError):
    """A method's declared policy is missing or contradicts itself (names the method)."""


@dataclass(frozen=True, slots=True)
class EdgePolicy:
    """The effective policy of one method."""

    method: str  # full name, `pkg.Service.Method`
    public: bool
    scopes: tuple[str, ...]
    rate_limit_class: str
    cache_ttl: int  # seconds; 0: never cached
    cache_varies_by_caller: bool

    @property
    def grpc_path(self) -> str:
        """`/pkg.Service/Method`, as gRPC servers see the method."""
        service, _, name = self.method.rpartition(".")
        return f"/{service}/{name}"

    def allows(self, scopes: Iterable[str]) -> bool:
        """True when `scopes` hold every scope the method requires (or it is public)."""
        return self.public or set(self.scopes).issubset(scopes)

    def missing(self, scopes: Iterable[str]) -> list[str]:
        """The required scopes not among `scopes`, in declaration order."""
        held = set(scopes)
        return [s for s in self.scopes if s not in held]


def _read(options: bytes, cls: Any, ext: Any) -> policy_pb2.Policy | None:
    parsed = cls.FromString(options)
    if not parsed.HasExtension(ext):
        return None
    value: policy_pb2.Policy = parsed.Extensions[ext]
    return value


def merge(
    method: str, service_default: policy_pb2.Policy | None, own: policy_pb2.Policy | None
) -> EdgePolicy:
    """The effective policy of `method` (full name): the service's default with the
    method's fields over it; PolicyError when there is none or it contradicts itself."""
    if service_default is None and own is None:
        raise PolicyError(
            f"{method} declares no policy: give it option (colonnade.api.v1.policy) = "
            '{public: true} or {scopes: "..."} (or its service a default_policy), so that '
            "no method is left open by omission"
        )
    public: bool | None = None
    scopes: tuple[str, ...] = ()
    rate_class = DEFAULT_RATE_LIMIT_CLASS
    ttl = 0
    varies: bool | None = None
    for layer in (service_default, own):
        if layer is None:
            continue
        if layer.scopes:  # a layer's scopes replace the ones before and make it non-public
            scopes = tuple(layer.scopes)
            public = layer.public if layer.HasField("public") else False
        elif layer.HasField("public"):  # public: true drops inherited scopes
            public = layer.public
            if public:
                scopes = ()
        if layer.HasField("rate_limit_class"):
            rate_class = layer.rate_limit_class
        if layer.HasField("cache_ttl_seconds"):
            ttl = layer.cache_ttl_seconds
        if layer.HasField("cache_varies_by_caller"):
            varies = layer.cache_varies_by_caller
    is_public = bool(public)
    if is_public and scopes:
        raise PolicyError(f"{method}: a policy is public or names scopes, not both")
    if not is_public and not scopes:
        raise PolicyError(
            f"{method}: its policy is neither public nor names a scope "
            "(set public: true, or the scopes a caller must hold)"
        )
    for scope in scopes:
        if not _SCOPE.match(scope):
            raise PolicyError(f"{method}: {scope!r} is not an OAuth scope token")
    if not _CLASS.match(rate_class):
        raise PolicyError(
            f"{method}: rate_limit_class {rate_class!r} must be a short lower-case name"
        )
    if ttl > MAX_CACHE_TTL:
        raise PolicyError(f"{method}: cache_ttl_seconds {ttl} is over {MAX_CACHE_TTL}")
    return EdgePolicy(
        method=method,
        public=is_public,
        scopes=scopes,
        rate_limit_class=rate_class,
        cache_ttl=ttl,
        # A public answer is the same for everyone; anything else is keyed by caller
        # unless the contract says otherwise.
        cache_varies_by_caller=(not is_public) if varies is None else varies,
    )


def method_policy(
    method: descriptor.MethodDescriptor, service_default: policy_pb2.Policy | None = None
) -> EdgePolicy:
    """The effective policy of one method descriptor (any pool)."""
    own = _read(
        method.GetOptions().SerializeToString(), descriptor_pb2.MethodOptions, policy_pb2.policy
    )
    return merge(method.full_name, service_default, own)


def service_policies(service: descriptor.ServiceDescriptor) -> dict[str, EdgePolicy]:
    """Every method's effective policy, by gRPC path (`/pkg.Service/Method`); raises
    PolicyError naming the first method without a usable policy."""
    default = _read(
        service.GetOptions().SerializeToString(),
        descriptor_pb2.ServiceOptions,
        policy_pb2.default_policy,
    )
    out: dict[str, EdgePolicy] = {}
    for method in service.methods:
        policy = method_policy(method, default)
        out[policy.grpc_path] = policy
    return out
