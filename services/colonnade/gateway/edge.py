"""The edge policies of a gateway, built once from its configuration and the contracts.

    auth ─► throttle ─► response-cache      (between `metadata` and `transcode`; the header
                                             rules of transform.py follow, policies or not)

Every method of every service in the descriptor sets must declare a policy
(`colonnade.api.v1.policy`, colonnade.runtime.policy); one that does not, a rate-limit class
without configured limits, or a cache TTL on a route that is not a unary GET stops the
gateway at start-up with a message naming the method.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from colonnade.gateway.authn import Authenticate
from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.descriptors import Registry
from colonnade.gateway.endpoint import Endpoint
from colonnade.gateway.errors import ConfigError, DescriptorError
from colonnade.gateway.pipeline import Step
from colonnade.gateway.respcache import ResponseCache
from colonnade.gateway.throttle import FixedWindowLimiter, Throttle, parse_rate_limits
from colonnade.runtime.auth import (
    ApiKeyStore,
    AuthError,
    ServiceIdentity,
    SigningKey,
    TokenSource,
    TokenVerifier,
)
from colonnade.runtime.cachecluster import CacheCluster, CacheConfigurationError
from colonnade.runtime.clientcredentials import ClientCredentials
from colonnade.runtime.policy import EdgePolicy, PolicyError, service_policies
from colonnade.runtime.settings import Settings, parse_cache_nodes


def contract_policies(registry: Registry) -> dict[str, EdgePolicy]:
    """Every method's policy by gRPC path; DescriptorError naming a method without one."""
    out: dict[str, EdgePolicy] = {}
    for service in registry.services():
        try:
            out.update(service_policies(service))
        except PolicyError as exc:
            raise DescriptorError(str(exc)) from None
    return out


@dataclass
class EdgePolicies:
    """The policy steps and what they hold open (the memcached nodes)."""

    steps: list[Step] = field(default_factory=list)
    cluster: CacheCluster | None = None
    verifier: TokenVerifier | None = None
    credentials: ClientCredentials | None = None

    async def start(self) -> None:
        """Gets the gateway's own first token (client credentials: a refusal is fatal) and
        connects to memcached (inside the serving loop; unreachable is not fatal)."""
        if self.credentials is not None:
            try:
                await self.credentials.start()
            except AuthError as exc:
                raise ConfigError(f"service_token_url: {exc.message}") from None
        if self.cluster is not None:
            try:
                await self.cluster.start()
            except CacheConfigurationError as exc:
                raise ConfigError(f"policy_cache_*: {exc}") from None

    async def close(self) -> None:
        """Closes the memcached clients and stops the token refresher."""
        if self.credentials is not None:
            await self.credentials.close()
        if self.cluster is not None:
            await self.cluster.close()


def policy_cache(cfg: GatewayConfig) -> CacheCluster | None:
    """The memcached nodes of the counters and cached answers (`policy_cache_*`), with the
    services' TLS and Auto Discovery (runtime/cachecluster.py); None without a URL."""
    if not cfg.policy_cache_url:
        return None
    try:
        parse_cache_nodes(cfg.policy_cache_url, "policy_cache_url")
        settings = Settings(
            cache_url=cfg.policy_cache_url,
            cache_timeout=cfg.policy_cache_timeout,
            cache_pool_size=cfg.policy_cache_pool_size,
            cache_tls=cfg.policy_cache_tls,
            cache_tls_ca_file=cfg.policy_cache_tls_ca_file,
            cache_tls_server_name=cfg.policy_cache_tls_server_name,
            cache_discovery=cfg.policy_cache_discovery,
        )
        return CacheCluster.from_settings(settings)
    except ValueError as exc:
        raise ConfigError(f"policy_cache_*: {exc}") from None


def build(cfg: GatewayConfig, registry: Registry, endpoints: Iterable[Endpoint]) -> EdgePolicies:
    """Reads the policies, checks them against the routes and the settings, and builds the
    steps; ConfigurationError (exit code 2) for anything that cannot be enforced."""
    policies = contract_policies(registry)
    limits = parse_rate_limits(cfg.rate_limits)
    for ep in endpoints:
        policy = policies.get(ep.grpc_path)
        if policy is None:
            raise DescriptorError(f"{ep.grpc_path} is routed but declares no policy")
        if policy.rate_limit_class not in limits:
            raise ConfigError(
                f"rate_limits: {policy.method} counts in class {policy.rate_limit_class!r}, "
                f"which has no limits (configured: {', '.join(sorted(limits))})"
            )
        if policy.cache_ttl and (
            ep.route.http_method != "GET" or ep.server_streaming or ep.client_streaming
        ):
            raise DescriptorError(
                f"{policy.method}: cache_ttl_seconds is only for unary GET routes"
            )
        ep.policy = policy
    auth = cfg.auth_settings()
    verifier = None
    if auth.jwks or (auth.allow_hs256 and auth.hs256_secret):
        verifier = TokenVerifier(auth)
        try:
            verifier.start()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"auth_jwks: {cfg.auth_jwks!r} cannot be read: {exc}") from None
    api_keys = None
    if cfg.api_keys_file:
        try:
            api_keys = ApiKeyStore.from_file(cfg.api_keys_file)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"api_keys_file: {exc}") from None
    elif cfg.api_keys:
        try:
            api_keys = ApiKeyStore.from_document(cfg.api_keys)
        except ValueError as exc:
            raise ConfigError(f"api_keys: {exc}") from None
    identity: TokenSource | None = None
    credentials = None
    if cfg.service_token_url:
        try:
            identity = credentials = ClientCredentials(
                cfg.service_token_url, cfg.service_client_id, cfg.service_client_secret, ()
            )
        except ValueError as exc:
            raise ConfigError(f"service_token_url: {exc}") from None
    elif cfg.service_token_key_file:
        try:
            key = SigningKey.from_file(cfg.service_token_key_file, cfg.service_token_kid)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"service_token_key_file: {exc}") from None
        identity = ServiceIdentity(
            "gateway", key, (), issuer=cfg.auth_issuer, audience=cfg.auth_audience
        )
    cluster = policy_cache(cfg)
    steps: list[Step] = [
        Authenticate(verifier, api_keys, identity),
        Throttle(
            FixedWindowLimiter(cluster, limits, replicas=cfg.replicas), cfg.trust_forwarded_for
        ),
    ]
    if cluster is not None and cfg.response_cache:
        steps.append(ResponseCache(cluster))
    return EdgePolicies(steps, cluster, verifier, credentials)
