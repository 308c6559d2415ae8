"""The gateway observed: metrics, its span, the access log, `/metrics` and the `/status` page.

`Observed` wraps the pipeline rather than being one of its steps, so the steps (and the edge
policies slotted between them) are untouched, and what it measures is what the client got:

* the status is read from the `http.response.start` message actually sent (a client that
  went away before any answer is counted as 499, nginx's "client closed request");
* the latency runs until the pipeline returned, i.e. the body (or a stream) was sent;
* the route is the matched endpoint's template (`GET /v1/{name=products/*}`), so the label
  set stays bounded whatever paths clients send.

Tracing: the request's `traceparent` decides sampling (`colonnade.runtime.tracing`); the
gateway's SERVER span (or, unsampled, the trace id alone) is made current before the pipeline
runs, and the `traceparent` request header is replaced by the gateway's own before the
metadata step copies it to the backend call, so the backend's span is the gateway span's
child and every process logs the same trace id.

`/metrics` (Prometheus text) and `/status` (a page that refreshes itself from `/status.json`:
the gateway's figures, each backend's gRPC health and, from their admin ports, each service's
figures: calls, errors, p99, database pool, cache state) are answered here, before the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import MutableMapping, Sequence
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson

from colonnade.gateway.exchange import Exchange, Send
from colonnade.gateway.pipeline import Pipeline
from colonnade.runtime.logging import request_id_var
from colonnade.runtime.observability import Observability, quantile_bound
from colonnade.runtime.tracing import SpanKind, outbound_traceparent

access_log = logging.getLogger("colonnade.access")
log = logging.getLogger("colonnade.gateway")

METRICS = "/metrics"
STATUS = "/status"
STATUS_JSON = "/status.json"
#: Paths answered before routing that get a route label of their own.
_KNOWN = frozenset({"/healthz", "/readyz", "/openapi.json", "/swagger.json", "/docs", "/"})
_CLIENT_CLOSED = 499


class Observed:
    """Runs the pipeline for one request, observed (module docstring)."""

    def __init__(
        self,
        pipeline: Pipeline,
        observability: Observability,
        *,
        access_log: bool = False,
        status: StatusSources | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.obs = observability
        self.access_log = access_log
        self.status = status or StatusSources(None, {})
        self._routes: dict[int, str] = {}

    async def run(self, ex: Exchange, send: Send) -> None:
        path = ex.path
        if path in (METRICS, STATUS, STATUS_JSON) and ex.method in ("GET", "HEAD"):
            await self._own_page(ex, send)
            return
        started = time.perf_counter()
        request_id_var.set(ex.request_id.decode("latin-1"))
        traceparent = ex.traceparent
        span = self.obs.tracing.begin(ex.method, traceparent, SpanKind.SERVER)
        ours = outbound_traceparent()
        if ours is not None:  # the backends' parent is the gateway's span (or its trace)
            headers = ex.headers
            if traceparent is not None:
                headers = [h for h in headers if h[0] != b"traceparent"]
            ex.headers = [*headers, (b"traceparent", ours.encode())]
        sent = [_CLIENT_CLOSED]

        async def observed_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                sent[0] = message["status"]
            await send(message)

        metrics = self.obs.metrics
        metrics.http_started()
        try:
            await self.pipeline.run(ex, observed_send)
        finally:
            seconds = time.perf_counter() - started
            status = sent[0]
            route = self._route(ex, path)
            metrics.http_request(route, ex.method, str(status), seconds)
            if self.access_log:
                access_log.info(
                    "http",
                    extra={
                        "method": ex.method,
                        "route": route,
                        "path": path,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                    },
                )
            if span.span is None:
                span.end()
            else:
                span.span.update_name(f"{ex.method} {route}")
                span.end(
                    f"HTTP {status}" if status >= 500 else None,
                    {
                        "http.request.method": ex.method,
                        "http.route": route,
                        "http.response.status_code": status,
                    },
                )

    def _route(self, ex: Exchange, path: str) -> str:
        endpoint = getattr(ex, "endpoint", None)
        if endpoint is None:
            return path if path in _KNOWN else "(unrouted)"
        key = id(endpoint)
        route = self._routes.get(key)
        if route is None:
            route = self._routes[key] = endpoint.route.template.source
        return route

    async def _own_page(self, ex: Exchange, send: Send) -> None:
        if ex.path == METRICS:
            body = self.obs.metrics.exposition()
            ctype = b"text/plain; version=0.0.4; charset=utf-8"
        elif ex.path == STATUS:
            body, ctype = STATUS_PAGE, b"text/html; charset=utf-8"
        else:
            body, ctype = orjson.dumps(await self.status_json()), b"application/json"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-request-id", ex.request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if ex.method == "HEAD" else body})

    async def status_json(self) -> dict[str, Any]:
        """What `/status` shows: the gateway's figures, backend health, services' figures."""
        gateway = self.obs.status()
        gateway["http"] = http_summary(self.obs)
        backends, services = await asyncio.gather(self.status.health(), self.status.services())
        return {"time": time.time(), "gateway": gateway, "backends": backends, "services": services}


class StatusSources:
    """Where the status page gets the rest: backend health, the services' admin ports."""

    def __init__(self, backends: Any, admin_urls: dict[str, str]) -> None:
        self.backends = backends
        self.admin_urls = admin_urls

    @classmethod
    def parse(cls, backends: Any, sources: Sequence[str]) -> StatusSources:
        """`name=http://host:port` items (the services' admin ports)."""
        urls: dict[str, str] = {}
        for item in sources:
            name, sep, url = item.partition("=")
            if sep and name.strip() and url.strip():
                urls[name.strip()] = url.strip().rstrip("/")
        return cls(backends, urls)

    async def health(self) -> dict[str, str]:
        if self.backends is None:
            return {}
        try:
            result: dict[str, str] = await self.backends.readiness(wait=0.5)
        except Exception as exc:  # the page must render whatever happens to a backend
            return {"error": str(exc)}
        return result

    async def services(self) -> dict[str, Any]:
        names = sorted(self.admin_urls)
        results = await asyncio.gather(
            *(_get_json(self.admin_urls[n] + "/status.json") for n in names)
        )
        return dict(zip(names, results, strict=True))


async def _get_json(url: str, limit: float = 1.0) -> Any:
    """GET a small JSON document over plain HTTP/1.1 (the admin ports), or an error object."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), limit)
        try:
            request = (
                f"GET {parts.path or '/'} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n"
            )
            writer.write(request.encode())
            raw = await asyncio.wait_for(reader.read(), limit)
        finally:
            writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
            return {"error": head.split(b"\r\n", 1)[0].decode("latin-1")}
        return orjson.loads(body)
    except (OSError, TimeoutError, orjson.JSONDecodeError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__}


def http_summary(obs: Observability) -> dict[str, dict[str, Any]]:
    """Per route: requests, 5xx and the p99 bucket bound (seconds)."""
    m = obs.metrics
    routes: dict[str, dict[str, Any]] = {}
    for labels, value in m.samples("colonnade_http_requests_total"):
        key = f"{labels['method']} {labels['route']}"
        entry = routes.setdefault(key, {"requests": 0.0, "errors": 0.0})
        entry["requests"] += value
        if labels["code"].startswith("5"):
            entry["errors"] += value
    buckets: dict[str, list[tuple[float, float]]] = {}
    for labels, value in m.samples("colonnade_http_request_duration_seconds_bucket"):
        key = f"{labels['method']} {labels['route']}"
        buckets.setdefault(key, []).append((float(labels["le"]), value))
    for key, series in buckets.items():
        if key in routes:
            routes[key]["p99_seconds"] = quantile_bound(series, 0.99)
    return routes


#: The page itself (`status.html` beside this module): plain HTML and a script, no build step.
STATUS_PAGE = resources.files("colonnade.gateway").joinpath("status.html").read_bytes()
