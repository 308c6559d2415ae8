"""The gateway as a raw ASGI application (no framework on the hot path).

It builds, once, everything requests need (the routes compiled into endpoints, the backend
channels, the converters) and runs each HTTP request through the pipeline of steps
(pipeline.py, steps.py): security headers, CORS, health, docs, routing, call metadata, the
contracts' edge policies (edge.py: authentication, throttling, response caching, header
transformation), transcoding, and the gRPC call that produces the response.
"""

from __future__ import annotations

from collections.abc import Sequence

from colonnade.gateway import edge, steps
from colonnade.gateway.backend import BackendMap, Backends
from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.descriptors import Registry
from colonnade.gateway.docs import ApiDocs
from colonnade.gateway.endpoint import Endpoint
from colonnade.gateway.errors import BackendConfigError
from colonnade.gateway.exchange import Exchange, Receive, Scope, Send
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.observe import Observed, StatusSources
from colonnade.gateway.pipeline import Pipeline, Step
from colonnade.gateway.responses import status_error_page
from colonnade.gateway.routing import Router, load_routes
from colonnade.gateway.transform import SecurityHeaders, Transform, load_rules
from colonnade.runtime.observability import Observability


class Gateway:
    """The ASGI application."""

    #: The HTTP server's own error answers in the gateway's format (`serve(error_page=...)`).
    error_page = staticmethod(status_error_page)

    def __init__(
        self,
        cfg: GatewayConfig,
        registry: Registry,
        *,
        policies: Sequence[Step] = (),
        observability: Observability | None = None,
        backends: Backends | None = None,
    ) -> None:
        self.cfg = cfg
        self.registry = registry
        self.conv = Converters(registry, emit_unpopulated=cfg.emit_unpopulated)
        routes = load_routes(registry)
        # The backend call is pluggable: gRPC channel pools by default, the servicers in
        # process on Lambda (colonnade.serverless.inprocess); every step before it is shared.
        self.backends = backends or Backends(
            BackendMap.parse(cfg.backends),
            channels=cfg.channels_per_backend,
            max_message=cfg.max_message_bytes,
            client=cfg.grpc_client,
        )
        missing = self.backends.check_routes(routes)
        if missing:
            raise BackendConfigError(
                "no backend for " + ", ".join(missing) + " (add --backend SERVICE=HOST:PORT)"
            )
        conv = self.conv
        if cfg.strict:
            conv = Converters(
                registry, emit_unpopulated=cfg.emit_unpopulated, ignore_unknown_fields=False
            )
        endpoints = [(r, Endpoint(r, registry, conv, cfg.strict)) for r in routes]
        self.router = Router(endpoints)
        # The contracts' edge policies (edge.py): off only for a plain transcoder.
        self.edge = edge.build(cfg, registry, (ep for _, ep in endpoints)) if cfg.policies else None
        edge_steps = self.edge.steps if self.edge is not None else []
        if cfg.transforms_file:
            edge_steps = [*edge_steps, Transform(load_rules(cfg.transforms_file))]
        first = [SecurityHeaders()] if cfg.security_headers else []
        self.pipeline = Pipeline(
            [
                *first,
                steps.Cors(cfg.cors_origins, cfg.cors_max_age),
                steps.Health(self.backends),
                steps.Docs(ApiDocs(cfg.descriptors)),
                steps.Route(self.router, cfg.form_post_as_get),
                steps.Metadata(),
                *edge_steps,
                *policies,
                steps.Transcode(cfg.max_body_bytes),
                steps.Call(
                    self.backends, self.conv, cfg.default_timeout or None, cfg.max_body_bytes
                ),
            ]
        )
        #: Metrics, tracing, access log, /metrics and /status around the pipeline (observe.py).
        self.observability = observability or Observability(cfg.observability())
        self.observed = Observed(
            self.pipeline,
            self.observability,
            access_log=cfg.access_log,
            status=StatusSources.parse(self.backends, cfg.status_sources),
        )
        self.started = False

    # -- lifecycle -------------------------------------------------------------------------

    async def startup(self) -> None:
        """Opens the channel pools (must run inside the serving event loop)."""
        if not self.started:
            self.backends.start()
            if self.edge is not None:
                await self.edge.start()
            await self.observability.start()
            self.started = True

    async def shutdown(self) -> None:
        """Closes the channel pools."""
        if self.started:
            await self.backends.close()
            if self.edge is not None:
                await self.edge.close()
            await self.observability.stop()
            self.started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self.started:
                await self.startup()
            await self.observed.run(Exchange(scope, receive), send)
        elif kind == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serves one HTTP request through the pipeline."""
        if not self.started:
            await self.startup()
        await self.observed.run(Exchange(scope, receive), send)
