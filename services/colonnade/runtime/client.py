"""The internal gRPC client every service uses to call another: one way, done right.

* **One channel per target**, shared by every stub (:class:`Channels`), with a gRPC
  service config: ``round_robin`` over every address the target resolves to (``dns:///``
  by default, so a Service Connect or Kubernetes name with several tasks spreads load),
  client-side health checking (a task reporting NOT_SERVING gets no calls), and per-method
  retries (timeouts are set per call, below).
* **Retries only where they are safe**: a method is retried on UNAVAILABLE, and on nothing
  else, only when its :class:`MethodPolicy` says it is idempotent or carries a request id
  (AIP-155) so the server deduplicates it. Retry throttling stops retries when most calls
  fail, so an outage is not multiplied by the retry count.
* **Deadlines always**: Python does not propagate deadlines by itself. Each call's timeout
  is the caller's remaining deadline (the inbound call being served, recorded by the
  server interceptor) capped by the method's default; an already expired deadline fails
  at once with DEADLINE_EXCEEDED, without a call.
* **Context passed on**: the request id (``x-request-id``) and W3C ``traceparent`` (same
  trace, a new parent span id) of the call being served go out with every call.
* **Its own identity**: with a :class:`~colonnade.runtime.auth.ServiceIdentity`
  (``SERVICE_TOKEN_KEY_FILE``), every call carries ``authorization: Bearer <token>`` for
  ``service:<name>``, so the callee's auth interceptor knows who calls (never the end
  user's token: a service acts with its own scopes).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from colonnade.runtime.auth import ServiceIdentity, SigningKey
from colonnade.runtime.logging import call_deadline_var, request_id_var, trace_id_var
from colonnade.runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class MethodPolicy:
    """How to call one method: its default timeout and whether a retry is safe."""

    timeout: float
    #: True for reads and methods idempotent by a client-chosen id or request id.
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The policies of one service's methods (``{"GetProduct": MethodPolicy(...)}``)."""

    service: str
    methods: Mapping[str, MethodPolicy]
    default: MethodPolicy = MethodPolicy(timeout=5.0)
    max_attempts: int = 4
    #: Retry throttling: retries stop while fewer than half of these tokens remain.
    throttle_max_tokens: int = 10
    throttle_token_ratio: float = 0.1

    def policy(self, method: str) -> MethodPolicy:
        """The policy of a full method name (``/pkg.Service/Method``) or a bare name."""
        return self.methods.get(method.rsplit("/", 1)[-1], self.default)

    def service_config(self) -> str:
        """The gRPC service config (JSON) that the channel applies."""
        # No "timeout" here: with grpcio 1.85 a service-config timeout makes aio calls fail
        # at once with DEADLINE_EXCEEDED (tests/integration/test_internal_client.py shows the
        # timeouts work); the interceptor sets every call's timeout instead.
        method_configs = [
            {
                "name": [{"service": self.service, "method": name}],
                "retryPolicy": {
                    "maxAttempts": self.max_attempts,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
            for name, policy in self.methods.items()
            if policy.retryable
        ]
        return json.dumps(
            {
                "loadBalancingConfig": [{"round_robin": {}}],
                "healthCheckConfig": {"serviceName": self.service},
                "methodConfig": method_configs,
                "retryThrottling": {
                    "maxTokens": self.throttle_max_tokens,
                    "tokenRatio": self.throttle_token_ratio,
                },
            }
        )


def outbound_timeout(policy: MethodPolicy, now: float | None = None) -> float:
    """The caller's remaining deadline capped by ``policy.timeout`` (seconds, may be ≤ 0)."""
    deadline = call_deadline_var.get()
    if deadline is None:
        return policy.timeout
    remaining = deadline - (time.monotonic() if now is None else now)
    return min(policy.timeout, remaining)


def outbound_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> list[Any]:
    """``metadata`` plus the request id and a ``traceparent`` of the call being served."""
    out: list[Any] = list(metadata or ())
    keys = {key for key, _ in out}
    request_id = request_id_var.get()
    if request_id and "x-request-id" not in keys:
        out.append(("x-request-id", request_id))
    trace_id = trace_id_var.get()
    if trace_id and "traceparent" not in keys:
        out.append(("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01"))
    return out


class _DeadlineExceeded(grpc.aio.AioRpcError):
    """Raised without a call when the caller's deadline has already passed."""

    def __init__(self, method: str) -> None:
        super().__init__(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details=f"deadline exceeded before calling {method}",
        )


class _ContextInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor
):
    """Applies :func:`outbound_timeout` and :func:`outbound_metadata` to every call."""

    def __init__(self, config: ClientConfig, identity: ServiceIdentity | None = None) -> None:
        self._config = config
        self._identity = identity

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        timeout = outbound_timeout(self._config.policy(method))
        if details.timeout is not None:
            timeout = min(timeout, details.timeout)
        if timeout <= 0:
            raise _DeadlineExceeded(method)
        metadata = outbound_metadata(details.metadata)
        if self._identity is not None and all(k != "authorization" for k, _ in metadata):
            metadata.append(("authorization", self._identity.authorization()))
        return grpc.aio.ClientCallDetails(
            method=details.method,
            timeout=timeout,
            metadata=grpc.aio.Metadata(*metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        return await continuation(self._details(client_call_details), request)

    # A server-streaming call needs exactly the same: its deadline covers the whole stream.
    intercept_unary_stream = intercept_unary_unary


def normalise_target(target: str) -> str:
    """``host:port`` → ``dns:///host:port``, so every resolved address gets calls."""
    return (
        target
        if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:"))
        else (f"dns:///{target}")
    )


class Channels:
    """One channel per (target, service), created on first use, closed together."""

    def __init__(self, identity: ServiceIdentity | None = None) -> None:
        self._channels: dict[tuple[str, str], grpc.aio.Channel] = {}
        self.identity = identity

    def get(self, target: str, config: ClientConfig) -> grpc.aio.Channel:
        """The channel to ``target`` for ``config.service`` (shared by every caller)."""
        key = (target, config.service)
        channel = self._channels.get(key)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                normalise_target(target),
                options=[
                    ("grpc.service_config", config.service_config()),
                    ("grpc.enable_retries", 1),
                    ("grpc.keepalive_time_ms", 60_000),
                ],
                interceptors=[_ContextInterceptor(config, self.identity)],
            )
            self._channels[key] = channel
        return channel

    async def close(self) -> None:
        """Close every channel (in-flight calls are cancelled)."""
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def identity_from_settings(settings: Settings) -> ServiceIdentity | None:
    """The service's own identity (``SERVICE_TOKEN_KEY_FILE``/``_KID``/``_SCOPES``, issuer
    and audience from ``AUTH_ISSUER``/``AUTH_AUDIENCE``), or None when it has no key."""
    if not settings.service_token_key_file:
        return None
    key = SigningKey.from_file(settings.service_token_key_file, settings.service_token_kid)
    return ServiceIdentity(
        settings.service_name,
        key,
        settings.service_token_scopes,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
    )
