"""The grpc.aio server factory and the service lifecycle.

:func:`build_server` gives every service the same server: the service interceptors
(applied to each method's handler once, at registration), gRPC health
(``grpc.health.v1``) driven by the lifecycle, and reflection. The
returned :class:`ServiceServer` starts SERVING once it listens and, on SIGTERM
or SIGINT, turns NOT_SERVING, keeps serving for ``SHUTDOWN_DELAY_SECONDS`` so
load balancers see it leave, then refuses new calls, lets in-flight calls
finish within ``SHUTDOWN_GRACE_SECONDS``, stops, and closes the service's
resources (pools, caches).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from colonnade.runtime import pagetokens
from colonnade.runtime.auth import TokenVerifier
from colonnade.runtime.authz import AuthInterceptor
from colonnade.runtime.config import SettingsError
from colonnade.runtime.handlers import Handler, Wrap, WrappingServer
from colonnade.runtime.interceptors import ServiceInterceptor
from colonnade.runtime.observability import Observability
from colonnade.runtime.policy import EdgePolicy, PolicyError, service_policies
from colonnade.runtime.settings import Settings

log = logging.getLogger("colonnade.server")

Cleanup = Callable[[], Awaitable[None]]
#: How long a client connection lives before the server asks it to reconnect (GOAWAY).
MAX_CONNECTION_AGE_MS = 5 * 60 * 1000
#: How long calls in flight on an aged connection may still take.
MAX_CONNECTION_AGE_GRACE_MS = 30 * 1000


class ServiceServer:
    """A started-or-not grpc.aio server with its health servicer and resources."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        service_names: Sequence[str],
        grace: float,
        delay: float = 0.0,
        observability: Observability | None = None,
    ) -> None:
        self.grpc_server = server
        #: Metrics, tracing and the admin port (started and stopped with the server).
        self.observability = observability or Observability.disabled("service")
        self.health = health_servicer
        self.service_names = tuple(service_names)
        self.grace = grace
        self.delay = delay
        self._cleanups: list[Cleanup] = []
        self._stopping: asyncio.Task[None] | None = None

    def add_cleanup(self, cleanup: Cleanup) -> None:
        """Run ``cleanup`` after the server stopped (last added, first run)."""
        self._cleanups.append(cleanup)

    async def start(self) -> None:
        """Start listening, then report SERVING for the server and each service."""
        await self.grpc_server.start()
        await self.observability.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"services": list(self.service_names)})

    async def stop(self, grace: float | None = None) -> None:
        """Graceful stop: NOT_SERVING, drain within ``grace`` seconds, close resources.

        Safe to call more than once; later calls wait for the first.
        """
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(
                self._stop(self.grace if grace is None else grace)
            )
        await asyncio.shield(self._stopping)

    async def _stop(self, grace: float) -> None:
        log.info("shutting down", extra={"grace_seconds": grace, "delay_seconds": self.delay})
        await self.health.enter_graceful_shutdown()
        if self.delay:
            # Still accepting calls while load balancers notice NOT_SERVING and move away.
            await asyncio.sleep(self.delay)
        await self.grpc_server.stop(grace)
        for cleanup in reversed(self._cleanups):
            try:
                await cleanup()
            except Exception:
                log.exception("cleanup failed")
        await self.observability.stop()
        log.info("stopped")

    async def wait_for_termination(self) -> None:
        await self.grpc_server.wait_for_termination()

    async def serve_until_signal(
        self, signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)
    ) -> None:
        """Start, serve until SIGTERM/SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        stop_requested = asyncio.Event()
        for sig in signals:
            loop.add_signal_handler(sig, stop_requested.set)
        try:
            await self.start()
            await stop_requested.wait()
        finally:
            for sig in signals:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
            await self.stop()


def build_server(
    settings: Settings,
    register: Callable[[grpc.aio.Server], Sequence[str]],
    *,
    max_connection_age_ms: int = MAX_CONNECTION_AGE_MS,
    observability: Observability | None = None,
) -> tuple[ServiceServer, int]:
    """Create a server bound to ``settings.grpc_host:grpc_port`` (port 0 picks a free one).

    ``register`` adds the service's servicers and returns their full names
    (e.g. ``colonnade.catalog.v1.CatalogService``) for health and reflection.
    Returns the server and the bound port. ``observability`` (by default one built from
    ``settings``) is what the interceptor reports to; the pool and cache the service wires
    should report to the same one (``server.observability``).
    """
    obs = observability or Observability(settings.observability())
    pagetokens.configure(settings.page_token_keys)
    options = [
        # Workers of one service share the port (the kernel spreads connections over them);
        # one process alone keeps it exclusive, so a second copy by mistake fails to bind.
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        # Close every connection after a while (clients reconnect transparently), so
        # long-lived client channels rebalance onto tasks added by a scale-out.
        ("grpc.max_connection_age_ms", max_connection_age_ms),
        ("grpc.max_connection_age_grace_ms", MAX_CONNECTION_AGE_GRACE_MS),
    ]
    own, auth_interceptor = service_interceptors(settings, obs)
    server = WrappingServer(
        grpc.aio.server(
            options=options, maximum_concurrent_rpcs=settings.max_concurrent_rpcs or None
        ),
        layered(own),
    )
    service_names = list(register(server))
    if auth_interceptor is not None:
        auth_interceptor.policies.update(contract_policies(service_names))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        # What enable_server_reflection registers on an aio server (it checks the class).
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(
                [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
            ),
            server,
        )
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    if port == 0:
        raise OSError(f"could not bind {settings.grpc_host}:{settings.grpc_port}")
    service_server = ServiceServer(
        server,
        health_servicer,
        service_names,
        settings.shutdown_grace_seconds,
        settings.shutdown_delay_seconds,
        obs,
    )
    return service_server, port


def layered(interceptors: Sequence[ServiceInterceptor | AuthInterceptor]) -> Wrap:
    """What ``interceptors`` do per call, applied to a method's handler once, the first one
    outermost as grpc.aio chains them (:class:`~colonnade.runtime.handlers.WrappingServer`)."""

    def wrap(method: str, handler: Handler) -> Handler:
        for interceptor in reversed(interceptors):
            handler = interceptor.wrap(method, handler)
        return handler

    return wrap


def service_interceptors(
    settings: Settings, observability: Observability
) -> tuple[list[ServiceInterceptor | AuthInterceptor], AuthInterceptor | None]:
    """The interceptors every service runs (the serverless path runs the same ones in
    process): :class:`ServiceInterceptor`, then the auth interceptor with
    ``AUTH_MODE=enforce`` (also returned, for :func:`contract_policies` once the services
    are registered)."""
    auth_interceptor = _auth_interceptor(settings)
    own: list[ServiceInterceptor | AuthInterceptor] = [
        ServiceInterceptor(
            access_log=settings.log_access,
            access_log_sample=settings.log_access_sample,
            observability=observability,
        )
    ]
    if auth_interceptor is not None:
        own.append(auth_interceptor)
    return own, auth_interceptor


def contract_policies(service_names: Sequence[str]) -> dict[str, EdgePolicy]:
    """Every method's policy from the services' generated descriptors, by gRPC path;
    SettingsError naming the method when one declares none (a service cannot start with a
    method left open by omission)."""
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    out: dict[str, EdgePolicy] = {}
    for name in service_names:
        try:
            out.update(service_policies(pool.FindServiceByName(name)))
        except PolicyError as exc:
            raise SettingsError(str(exc)) from None
    return out


def _auth_interceptor(settings: Settings) -> AuthInterceptor | None:
    """The auth interceptor with ``AUTH_MODE=enforce`` (its JWKS read now), else None."""
    if settings.auth_mode != "enforce":
        log.warning(
            "AUTH_MODE=off: calls are not authenticated; set AUTH_JWKS to enforce the "
            "contract's policies"
        )
        return None
    verifier = TokenVerifier(settings.auth_settings())
    try:
        verifier.start()
    except (OSError, ValueError) as exc:
        raise SettingsError(f"AUTH_JWKS {settings.auth_jwks!r} cannot be read: {exc}") from None
    return AuthInterceptor(verifier, {}, settings.auth_trusted_delegates)
