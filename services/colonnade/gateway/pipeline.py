"""The request pipeline: small steps run in order, each of which may answer the request.

    request ─► cors ─► health ─► docs ─► route ─► metadata ─► [policies] ─► transcode ─► call
                each step's request(ex): None (go on) | a Response (answer now) | raise StatusError
    send ◄─── response(ex, r) of every step that ran, last first ◄─────────────── Response

A `Step` has two hooks:

* `request(ex)` runs in pipeline order. It reads and fills the `Exchange` and returns None to
  hand the request on, or a `Response` to answer it now (the steps after it do not run), or an
  awaitable of either when it must wait for I/O first (read the body, call a backend or a
  cache): a plain method that returns a coroutine only when it waits, so a step costs no
  coroutine on requests it merely looks at. It raises a `StatusError` to refuse the request
  (the error becomes a google.rpc.Status reply).
* `response(ex, response)` runs on the way back, in reverse order, for every step whose
  `request` ran (also when a later step answered or failed): it may change the status and
  headers, or keep a copy of a whole `Reply`. Only steps that override it are called.

Edge policies slot in between `metadata` and `transcode` (`Gateway(policies=...)`): the route
is known there (so per-method policy options can be read from its descriptors), the call
metadata is built (so a policy can strip what the client must not set and add what it
verified), and no request body has been read yet (a refused request costs no body). For
example: authentication verifies a token and adds the principal to the metadata, or raises
UNAUTHENTICATED; throttling counts and raises RESOURCE_EXHAUSTED with `Retry-After`, and adds
`RateLimit-*` headers in `response`; response caching answers a GET from the cache with a
`Reply` in `request` and stores a cacheable `Reply` through `ex.defer(action)` (awaited after
the `response` hooks, before sending: the hooks themselves never wait); header transformation
edits `ex.metadata` in `request` and `response.headers` in `response`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from colonnade.gateway.errors import ClientDisconnected, StatusError
from colonnade.gateway.exchange import Exchange, Send
from colonnade.gateway.responses import Response, error_reply

StepResult = Response | Awaitable[Response | None] | None
log = logging.getLogger("colonnade.gateway")


class Step:
    """One stage of the pipeline (see the module docstring); both hooks default to no-ops."""

    name = "step"

    def request(self, ex: Exchange) -> StepResult:
        """None to hand the request on, a Response to answer it, an awaitable of either when
        the step must wait for I/O first; raises StatusError to refuse the request."""
        return None

    def response(self, ex: Exchange, response: Response) -> None:
        """Adjusts the response on its way out (a no-op unless overridden)."""


class Pipeline:
    """Runs steps over one request and sends the response they produce."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)
        # Indices of the steps that override `response`, for the way back (most have none).
        self._responders = tuple(
            i for i, s in enumerate(self.steps) if type(s).response is not Step.response
        )

    async def run(self, ex: Exchange, send: Send) -> None:
        """Passes `ex` through the steps until one answers, then sends the answer."""
        ran = 0
        response: StepResult = None
        try:
            for step in self.steps:
                ran += 1
                response = step.request(ex)
                if response is not None:
                    if isinstance(response, Response):
                        break
                    response = await response  # the step waits for I/O
                    if response is not None:
                        break
            else:
                raise RuntimeError("no step answered the request")  # the call step always does
        except StatusError as exc:
            response = error_reply(exc, ex.response_headers, ex.te is not None and ex.trailers_ok())
        except ClientDisconnected:
            return
        for i in reversed(self._responders):
            if i < ran:
                self.steps[i].response(ex, response)
        if ex.deferred is not None:
            for action in ex.deferred:
                try:
                    await action(response)
                except Exception:  # a cache store must never fail the request
                    log.exception("a deferred policy action failed")
        await response.send(send)

    def names(self) -> list[str]:
        """The steps' names in order (logged at start-up)."""
        return [s.name for s in self.steps]
