"""The own client's channel: a pool of HTTP/2 connections to one gRPC server (rpc.Channel).

`size` connections are used round-robin (a backend running several processes behind
SO_REUSEPORT balances connections, not calls) and reopened on demand. While a backend is
unreachable, reconnects follow gRPC's back-off (1 s, x1.6, jitter 0.2, capped at 10 s here)
and calls fail fast with UNAVAILABLE; the outage is logged once when it starts and once when
it ends. Calls the server never saw are retried once, as gRPC's transparent retry does (and
marked so: a balancer over several addresses sends them to another one, balancer.py).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

from colonnade.gateway.errors import RpcError, TransportError
from colonnade.gateway.grpcwire.call import DuplexCall, StreamCall
from colonnade.gateway.grpcwire.connection import Connection
from colonnade.gateway.grpcwire.stream import Stream
from colonnade.gateway.grpcwire.target import authority, parse_target
from colonnade.gateway.rpc import UnaryResponse
from colonnade.gateway.status import Code

log = logging.getLogger("colonnade.gateway.grpc")


class Channel:
    """`size` HTTP/2 connections to one gRPC server, used round-robin and reopened on demand."""

    def __init__(
        self,
        target: str,
        *,
        size: int = 1,
        max_message: int = 4 * 1024 * 1024,
        connect_timeout: float = 5.0,
        user_agent: str = "colonnade-gateway",
    ) -> None:
        self.target = target
        self.host, self.port, self.unix_path = parse_target(target)
        self.authority = authority(target).encode()
        self.max_message = max_message
        self.connect_timeout = connect_timeout
        self.user_agent = user_agent.encode()
        n = max(1, size)
        self.slots: list[Connection | None] = [None] * n
        self.connecting: list[asyncio.Task[Connection] | None] = [None] * n
        self._rr = itertools.cycle(range(n))
        self.last_error = ""
        self.failures = 0  # connection attempts failed in a row
        self.retry_at = 0.0
        self.backoff = 1.0
        #: The longest back-off between reconnects (a balancer probing an address it
        #: ejected keeps it short: the other addresses carry the calls meanwhile).
        self.max_backoff = 10.0
        self.closed = False

    # -- calls ---------------------------------------------------------------------------

    async def unary(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - the call's deadline, sent as grpc-timeout
    ) -> UnaryResponse:
        """Calls a unary method; raises RpcError unless the status is OK."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for attempt in (0, 1):
            st = await self.start(path, request, metadata, deadline, False)
            if not st.done:
                await st.wait()
            err = st.error
            if err is None:
                return UnaryResponse(st.messages[0], st.initial or [], st.trailing)
            if not err.transparent_retry or attempt or self.closed:
                raise err
            # GOAWAY above this stream or REFUSED_STREAM: the server never saw it, retry once
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(
        self,
        path: str,
        request: bytes,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> StreamCall:
        """A server-streaming call (opened by its first read)."""
        return StreamCall(self, path, request, metadata, timeout)

    def duplex(
        self,
        path: str,
        metadata: Sequence[tuple[bytes, bytes]] = (),
        timeout: float | None = None,
    ) -> DuplexCall:
        """A client- or bidirectional-streaming call (opened by its first write or read)."""
        return DuplexCall(self, path, metadata, timeout)

    async def start(
        self,
        path: str,
        request: bytes | None,
        metadata: Sequence[tuple[bytes, bytes]],
        deadline: float | None,
        streaming: bool,
    ) -> Stream:
        """Opens a call's stream on a usable connection, within the call's deadline."""
        timeout = None
        if deadline is not None:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise RpcError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")
        conn = self._pick()
        if conn is None:
            conn = await self._connection(timeout)
            if deadline is not None:
                timeout = deadline - time.monotonic()
                if timeout <= 0:
                    raise RpcError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded")
        if len(conn.streams) >= conn.peer_max_streams:
            try:
                async with asyncio.timeout(timeout):
                    await conn.wait_slot()
            except TimeoutError:
                raise RpcError(Code.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
            if deadline is not None:
                timeout = deadline - time.monotonic()
            if not conn.usable():
                return await self.start(path, request, metadata, deadline, streaming)
        return conn.open_stream(path, request, metadata, timeout, streaming)

    # -- connections ---------------------------------------------------------------------

    def _pick(self) -> Connection | None:
        slots = self.slots
        for _ in range(len(slots)):
            c = slots[next(self._rr)]
            if c is not None and c.usable():
                return c
        return None

    async def _connection(self, budget: float | None) -> Connection:
        """A usable connection: opens missing ones, or fails fast during back-off."""
        if self.closed:
            raise RpcError(Code.UNAVAILABLE, f"channel to {self.target} is closed")
        now = time.monotonic()
        if now < self.retry_at:
            raise RpcError(
                Code.UNAVAILABLE,
                f"backend {self.target} unavailable: {self.last_error}",
                transparent_retry=True,  # never sent: another address may take it
            )
        tasks = self._connect_all()
        pending = set(tasks)
        wait = self.connect_timeout if budget is None else min(budget, self.connect_timeout)
        end = now + wait
        while pending:
            left = end - time.monotonic()
            if left <= 0:
                break
            done, pending = await asyncio.wait(
                pending, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            for t in done:
                if not t.cancelled() and t.exception() is None:
                    conn = t.result()
                    if conn.usable():
                        return conn
        c = self._pick()
        if c is not None:
            return c
        if budget is not None and budget <= self.connect_timeout and time.monotonic() >= end:
            raise RpcError(
                Code.DEADLINE_EXCEEDED, f"Deadline Exceeded while connecting to {self.target}"
            )
        raise RpcError(
            Code.UNAVAILABLE,
            f"backend {self.target} unavailable: {self.last_error or 'connect timeout'}",
            transparent_retry=True,  # never sent: another address may take it
        )

    def _connect_all(self) -> list[asyncio.Task[Connection]]:
        tasks = []
        for i, c in enumerate(self.slots):
            if c is not None and c.usable():
                continue
            t = self.connecting[i]
            if t is None or t.done():
                t = asyncio.get_running_loop().create_task(self._open(i))
                t.add_done_callback(_quiet)
                self.connecting[i] = t
            tasks.append(t)
        return tasks

    async def _open(self, i: int) -> Connection:
        loop = asyncio.get_running_loop()

        def factory() -> Connection:
            return Connection(self.authority, self.max_message, self.user_agent)

        conn: Connection | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self.unix_path:
                    _, conn = await loop.create_unix_connection(factory, self.unix_path)
                else:
                    _, conn = await loop.create_connection(factory, self.host, self.port)
                await conn.ready
        except BaseException as exc:
            if conn is not None:
                conn.close()  # e.g. a TCP peer that never sent its SETTINGS
            if isinstance(exc, (OSError, TimeoutError, TransportError)):
                self._failed(exc)
            raise
        if self.closed:  # closed while connecting
            conn.close()
            raise TransportError(f"channel to {self.target} is closed")
        old = self.slots[i]
        if old is not None and not old.closed:
            old.goaway()
        self.slots[i] = conn
        self.backoff = 1.0
        self.retry_at = 0.0
        if self.failures:
            log.info(
                "backend reachable again",
                extra={"backend": self.target, "failed_attempts": self.failures},
            )
            self.failures = 0
        return conn

    def _failed(self, exc: BaseException) -> None:
        """Records a failed connection attempt and schedules the next after a back-off."""
        self.last_error = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            self.last_error = f"no HTTP/2 connection within {self.connect_timeout:g} s"
        self.retry_at = time.monotonic() + self.backoff * random.uniform(0.8, 1.2)
        self.backoff = min(self.max_backoff, self.backoff * 1.6)
        if not self.failures:  # once per outage, not once per attempt
            log.warning(
                "backend unreachable",
                extra={"backend": self.target, "error": self.last_error},
            )
        self.failures += 1

    def connect(self) -> None:
        """Starts opening every connection now, so the first calls find them warm."""
        if not self.closed:
            self._connect_all()

    async def close(self) -> None:
        """Closes every connection; calls still running fail UNAVAILABLE."""
        self.closed = True
        for t in self.connecting:
            if t is not None and not t.done():
                t.cancel()
        for c in self.slots:
            if c is not None:
                c.goaway()
                c.close()
        await asyncio.sleep(0)


def _quiet(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # reported through the channel's last_error
