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
* **Context passed on**: the request id (``x-request-id``) and W3C ``traceparent`` of the
  call being served go out with every call: in a sampled request the parent is a CLIENT
  span of this call, otherwise the caller's parent id with the sampled flag off.
* **Its own identity**: with a :class:`~colonnade.runtime.auth.ServiceIdentity`
  (``SERVICE_TOKEN_KEY_FILE``) or client credentials from a token endpoint
  (``SERVICE_TOKEN_URL``, :mod:`colonnade.runtime.clientcredentials`), every call carries
  ``authorization: Bearer <token>`` for ``service:<name>`` (or its app client), so the
  callee's auth interceptor knows who calls (never the end user's token: a service acts
  with its own scopes).
* **Observed**: with an :class:`~colonnade.runtime.observability.Observability`, every unary
  call is counted by target, method and status code, and timed
  (``colonnade_rpc_client_*``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from colonnade.runtime.auth import ServiceIdentity, SigningKey, TokenSource
from colonnade.runtime.clientcredentials import ClientCredentials
from colonnade.runtime.logging import call_deadline_var, request_id_var
from colonnade.runtime.observability import Observability
from colonnade.runtime.settings import Settings
from colonnade.runtime.tracing import SpanKind, Tracing, end_span, outbound_traceparent


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


def outbound_metadata(
    metadata: Iterable[tuple[str, str | bytes]] | None, traceparent: str | None = None
) -> list[Any]:
    """``metadata`` plus the request id and the ``traceparent`` of the call being served
    (``traceparent``: a client span's, when the call has one)."""
    out: list[Any] = list(metadata or ())
    keys = {key for key, _ in out}
    request_id = request_id_var.get()
    if request_id and "x-request-id" not in keys:
        out.append(("x-request-id", request_id))
    parent = traceparent or outbound_traceparent()
    if parent and "traceparent" not in keys:
        out.append(("traceparent", parent))
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

    def __init__(
        self,
        config: ClientConfig,
        target: str = "",
        observability: Observability | None = None,
        identity: TokenSource | None = None,
    ) -> None:
        self._config = config
        self._target = target
        self._obs = observability
        self._identity = identity

    def _details(
        self, details: grpc.aio.ClientCallDetails, traceparent: str | None = None
    ) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        timeout = outbound_timeout(self._config.policy(method))
        if details.timeout is not None:
            timeout = min(timeout, details.timeout)
        if timeout <= 0:
            raise _DeadlineExceeded(method)
        metadata = outbound_metadata(details.metadata, traceparent)
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
        obs = self._obs
        if obs is None:
            return await continuation(self._details(client_call_details), request)
        raw = client_call_details.method
        method = raw.decode() if isinstance(raw, bytes) else raw
        span = obs.tracing.child(
            method.lstrip("/"),
            SpanKind.CLIENT,
            {
                "rpc.system": "grpc",
                "rpc.method": method.rsplit("/", 1)[-1],
                "server.address": self._target,
            },
        )
        started = time.perf_counter()
        code = "UNKNOWN"
        try:
            parent = None if span is None else Tracing.traceparent_of(span)
            call = await continuation(self._details(client_call_details, parent), request)
            # Awaited here, inside the interceptor, to learn the status code: the caller then
            # gets the response (or this AioRpcError) exactly as from the call itself.
            response = await call
            code = "OK"
            return response
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
            raise
        except BaseException:
            code = "CANCELLED"
            raise
        finally:
            short = method.rsplit("/", 1)[-1]
            obs.metrics.client_call(self._target, short, code, time.perf_counter() - started)
            if span is not None:
                span.set_attribute("rpc.grpc.status_code", code)
                end_span(span, None if code == "OK" else code)

    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Any],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        # The same deadline and context; its deadline covers the whole stream. Streams are
        # not counted: their status is known only when the caller has read them to the end.
        return await continuation(self._details(client_call_details), request)


def normalise_target(target: str) -> str:
    """``host:port`` → ``dns:///host:port``, so every resolved address gets calls."""
    return (
        target
        if "://" in target or target.startswith(("ipv4:", "ipv6:", "unix:"))
        else (f"dns:///{target}")
    )


class Channels:
    """One channel per (target, service), created on first use, closed together."""

    def __init__(
        self,
        observability: Observability | None = None,
        identity: TokenSource | None = None,
    ) -> None:
        self._channels: dict[tuple[str, str], grpc.aio.Channel] = {}
        self._obs = observability
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
                    # A restarted instance is back in rotation within 2 s, not gRPC's
                    # default of up to 120 s of reconnect back-off (the other addresses
                    # carry the calls meanwhile; a probe every 2 s costs nothing).
                    ("grpc.max_reconnect_backoff_ms", 2_000),
                ],
                interceptors=[_ContextInterceptor(config, target, self._obs, self.identity)],
            )
            self._channels[key] = channel
        return channel

    async def close(self) -> None:
        """Close every channel (in-flight calls are cancelled)."""
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()


def identity_from_settings(settings: Settings) -> ServiceIdentity | ClientCredentials | None:
    """The service's own identity, or None when it has none: client credentials from
    ``SERVICE_TOKEN_URL`` (``SERVICE_CLIENT_ID``/``_SECRET``, the ``SERVICE_TOKEN_SCOPES``
    with ``AUTH_SCOPE_PREFIX`` before each; :meth:`ClientCredentials.start` it), or a key
    of its own (``SERVICE_TOKEN_KEY_FILE``/``_KID``/``_SCOPES``, issuer and audience from
    ``AUTH_ISSUER``/``AUTH_AUDIENCE``)."""
    if settings.service_token_url:
        return ClientCredentials(
            settings.service_token_url,
            settings.service_client_id,
            settings.service_client_secret,
            [settings.auth_scope_prefix + s for s in settings.service_token_scopes],
        )
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
