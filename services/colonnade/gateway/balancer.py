"""Several instances behind one backend target: calls go round-robin to the healthy ones.

A target may name several addresses, as gRPC's name syntax does (``ipv4:10.0.0.1:50051,
10.0.0.2:50051``, or plainly ``host:port,host:port``). The gateway then keeps a channel to
each address and a :class:`Balanced` channel in front of them, which does what a gRPC
``round_robin`` policy with client-side health checking does:

* each address's ``grpc.health.v1`` status is checked every :data:`HEALTH_INTERVAL` seconds;
  an address that is not SERVING (a task draining after SIGTERM says NOT_SERVING before it
  stops accepting) or cannot be reached gets no new calls until a check says it serves again;
* a call the server never saw (the connection cannot be opened, a GOAWAY or REFUSED_STREAM
  above it) is sent to the next address within the call's deadline, and the address is
  ejected at once rather than at the next check;
* when no address is healthy the calls are still tried, in turn, so the client learns
  UNAVAILABLE quickly and the first address back serves at once.

A call the server may have started is never sent twice: whether that is safe is the
method's business, not the transport's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Sequence

from grpc_health.v1 import health_pb2

from colonnade.gateway.errors import BackendConfigError, RpcError
from colonnade.gateway.grpcwire.target import parse_target
from colonnade.gateway.rpc import Channel, DuplexCall, StreamCall, UnaryResponse
from colonnade.gateway.status import Code

log = logging.getLogger("colonnade.gateway.grpc")

#: Seconds between health checks of each address.
HEALTH_INTERVAL = 0.5
#: A health check's own deadline (seconds).
HEALTH_TIMEOUT = 1.0
_HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_SERVING = health_pb2.HealthCheckResponse.SERVING


def split_addresses(target: str) -> list[str]:
    """The addresses a target names: one for ``host:port`` (or ``dns:``, ``unix:``), several
    for ``ipv4:a:1,b:2`` or ``a:1,b:2``. BackendConfigError names a malformed one."""
    t = target.strip()
    body = t
    for prefix in ("ipv4:", "ipv6:"):
        if t.startswith(prefix):
            body = t[len(prefix) :]
    if "," not in body:
        return [t]
    parts = [p.strip() for p in body.split(",")]
    for part in parts:
        if not part:
            raise BackendConfigError(f"backend {target!r}: an empty address in the list")
        parse_target(part)
    return parts


class Balanced:
    """An rpc.Channel over one channel per address (see the module docstring)."""

    def __init__(self, target: str, channels: Sequence[Channel]) -> None:
        self.target = target
        self.channels = list(channels)
        self.healthy = [True] * len(self.channels)
        self._rr = itertools.count()
        self._watcher: asyncio.Task[None] | None = None
        self.closed = False

    def _order(self) -> list[int]:
        """The addresses to try, starting with the next in turn: the healthy ones first."""
        n = len(self.channels)
        start = next(self._rr) % n
        turn = [(start + k) % n for k in range(n)]
        now = time.monotonic()
        good = [i for i in turn if self.healthy[i] and self._ready(i, now)]
        return good + [i for i in turn if i not in good]

    def _ready(self, i: int, now: float) -> bool:
        """False while the address's own channel waits out a reconnect back-off."""
        return now >= float(getattr(self.channels[i], "retry_at", 0.0))

    def _eject(self, i: int, exc: RpcError) -> None:
        if self.healthy[i]:
            log.info(
                "backend address ejected",
                extra={"backend": self.channels[i].target, "error": exc.message},
            )
        self.healthy[i] = False

    async def unary(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, sent as grpc-timeout
    ) -> UnaryResponse:
        """Calls a unary method on the next healthy address; another one if it was never
        seen by the first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        failure: RpcError | None = None
        for i in self._order():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                return await self.channels[i].unary(path, request, metadata, left)
            except RpcError as exc:
                if not exc.transparent_retry or self.closed:
                    raise
                self._eject(i, exc)
                failure = exc
        if failure is not None and (deadline is None or time.monotonic() < deadline):
            raise failure
        raise RpcError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")

    def stream(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> StreamCall:
        """A server-streaming call on the next healthy address."""
        return self.channels[self._order()[0]].stream(path, request, metadata, timeout)

    def duplex(
        self,
        path: str,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> DuplexCall:
        """A client- or bidirectional-streaming call on the next healthy address."""
        return self.channels[self._order()[0]].duplex(path, metadata, timeout)

    def connect(self) -> None:
        """Connects to every address and starts checking their health."""
        for channel in self.channels:
            channel.connect()
        if self._watcher is None and not self.closed:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while not self.closed:
            results = await asyncio.gather(*(self._check(c) for c in self.channels))
            for i, (serving, why) in enumerate(results):
                if serving and not self.healthy[i]:
                    log.info(
                        "backend address serving again", extra={"backend": self.channels[i].target}
                    )
                elif not serving and self.healthy[i]:
                    log.info(
                        "backend address not serving",
                        extra={"backend": self.channels[i].target, "error": why},
                    )
                self.healthy[i] = serving
            await asyncio.sleep(HEALTH_INTERVAL)

    @staticmethod
    async def _check(channel: Channel) -> tuple[bool, str]:
        request = health_pb2.HealthCheckRequest().SerializeToString()
        try:
            response = await channel.unary(_HEALTH_CHECK, request, (), HEALTH_TIMEOUT)
        except RpcError as exc:
            return False, exc.message
        status = health_pb2.HealthCheckResponse.FromString(response.message).status
        return status == _SERVING, health_pb2.HealthCheckResponse.ServingStatus.Name(status)

    async def close(self) -> None:
        """Stops the health checks and closes every address's channel."""
        self.closed = True
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await asyncio.gather(*(c.close() for c in self.channels))
