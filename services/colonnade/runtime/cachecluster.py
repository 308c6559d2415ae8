"""The memcached nodes a service caches in: TLS, consistent hashing, per-node degraded mode.

* **Nodes**: ``CACHE_URL`` lists one or more nodes (``memcached://h1:11211,h2:11211``), or,
  with ``CACHE_DISCOVERY=true``, names an ElastiCache configuration endpoint whose
  ``config get cluster`` answer gives them (:mod:`colonnade.runtime.cachediscovery`). The list
  is refreshed every ``CACHE_DISCOVERY_INTERVAL`` seconds, and sooner when a node goes down
  (a replaced node comes back under a new configuration version); while the endpoint cannot
  be reached the last known list stays in use.
* **Keys over nodes**: rendezvous hashing (:mod:`colonnade.runtime.hashring`, which says why
  rather than ketama): every key has one owner among the configured nodes, the same in every
  process that sees the same node set.
* **Per-node degraded mode**: one aiomcache client per node. An error or timeout on a node
  marks that node down for ``retry_after`` seconds (one log line), discards its client (a
  timed-out command may leave a half-read reply on a pooled connection), and the next call
  after that reconnects with a fresh client (one log line when it answers again). Losing a
  node costs only *its* keys: they are read from the database and **not** re-mapped onto
  the other nodes while it is down. Re-mapping would move them to a second node and back
  when the first returns; writes made in between invalidate only the node that owned the key
  at the time, so the returning node would serve entries older than those writes (stale
  reads for up to the entry TTL).
* **TLS** (``CACHE_TLS``, ElastiCache in-transit encryption): every node and the
  configuration endpoint are reached over TLS, the certificate verified against
  ``CACHE_TLS_CA_FILE`` (default: the system trust store, which holds the Amazon roots that
  ElastiCache certificates chain to) for the node's host name or ``CACHE_TLS_SERVER_NAME``.
* **Configuration errors are not outages**: a certificate that fails verification, a
  plaintext client talking to a TLS-only node (the server resets the connection) or a TLS
  client talking to a plaintext node, or a configuration endpoint that is plain memcached.
  At start-up (:meth:`CacheCluster.start`) they raise :class:`CacheConfigurationError`
  naming the setting to change; later they are logged at ERROR level, naming it too, and
  the node stays down, so the service keeps serving from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiomcache
from aiomcache.client import acquire
from aiomcache.pool import Connection, MemcachePool

from colonnade.runtime.cachediscovery import (
    ClusterConfig,
    DiscoveryProtocolError,
    fetch_cluster_config,
)
from colonnade.runtime.hashring import RendezvousRing
from colonnade.runtime.observability import Observability
from colonnade.runtime.settings import ConfigurationError, Settings, parse_cache_nodes
from colonnade.runtime.tracing import SpanKind, end_span

log = logging.getLogger("colonnade.cache")

#: How long start-up waits for a node or the configuration endpoint before calling it down.
STARTUP_TIMEOUT = 2.0
#: How long telling a misconfiguration from an outage may take (one more connection attempt).
PROBE_TIMEOUT = 1.0
#: The least time between two discovery refreshes triggered by a node going down.
_MIN_REFRESH_GAP = 1.0

Operation = Callable[[aiomcache.Client], Awaitable[Any]]


class CacheConfigurationError(ConfigurationError):
    """The cache settings do not fit the servers they point at; the message names the setting."""


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """A node: its ring identity, where to connect, and the name its certificate must carry."""

    name: str
    host: str
    port: int
    tls_name: str


@dataclass(frozen=True, slots=True)
class CacheTLS:
    """The TLS side of the cache settings."""

    context: ssl.SSLContext
    ca_file: str
    server_name: str

    @property
    def trust(self) -> str:
        return (
            f"CACHE_TLS_CA_FILE={self.ca_file}"
            if self.ca_file
            else "the system trust store (CACHE_TLS_CA_FILE is unset)"
        )


def cache_tls(settings: Settings) -> CacheTLS | None:
    """The TLS context for ``CACHE_TLS``, verifying against ``CACHE_TLS_CA_FILE`` or the system."""
    if not settings.cache_tls:
        return None
    try:
        context = ssl.create_default_context(cafile=settings.cache_tls_ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise CacheConfigurationError(
            f"CACHE_TLS_CA_FILE={settings.cache_tls_ca_file} cannot be read as PEM "
            f"certificates: {exc}"
        ) from exc
    return CacheTLS(context, settings.cache_tls_ca_file, settings.cache_tls_server_name)


def connection_args(tls: CacheTLS | None, tls_name: str) -> dict[str, Any]:
    """Keyword arguments for :func:`asyncio.open_connection` to one node."""
    if tls is None:
        return {}
    return {"ssl": tls.context, "server_hostname": tls.server_name or tls_name}


class _Pool(MemcachePool):
    """aiomcache's pool, except that it opens connections up to its size as calls need them,
    never reuses a connection whose command was cancelled, and closes every connection handed
    back after the client was closed.

    aiomcache 0.8.2 returns a connection to the pool after any command, also one cancelled
    half-way (a timeout, or the gRPC call that waited on it ending): its reply is still on the
    way, and the next command on that connection would read it as its own, answering one key
    with another's value. And ``close()`` closes only the idle connections: those in use at that
    moment were pooled again afterwards and left for the garbage collector, unclosed.
    """

    closed = False

    async def acquire(self) -> Connection:
        """An idle connection, else a new one while there are fewer than ``maxsize``, else the
        next one released. (aiomcache 0.8.2 opens connections only up to ``minsize`` and then
        waits for one to come back: with a ``minsize`` of 1 every command of the process went
        through one connection, one after another, and a slow reply held up all the others
        until their timeouts.)"""
        while True:
            if self._pool.empty() and self.size() < self._maxsize:
                # None: others opened the last ones meanwhile; then wait for a released one
                conn = await self._create_new_conn()
                if conn is None:
                    continue
            else:
                conn = await self._pool.get()
            if conn.reader.at_eof() or conn.reader.exception() is not None:
                self._do_close(conn)
                continue
            self._in_use.add(conn)
            return conn

    def release(self, conn: Connection) -> None:
        task = asyncio.current_task()
        if self.closed or (task is not None and task.cancelling()):
            self._in_use.discard(conn)
            self._do_close(conn)
            return
        super().release(conn)

    async def clear(self) -> None:
        self.closed = True
        await super().clear()


class _Client(aiomcache.Client):
    """aiomcache's client on :class:`_Pool`, and a connection closed before the reply raises.

    aiomcache 0.8.2 reads simple replies (``set``, ``add``, ``version``…) in a loop that
    spins without ever yielding when the server has closed the connection (``readline``
    keeps returning ``b""``), which would freeze the event loop.
    """

    def __init__(
        self, host: str, port: int, *, pool_size: int, pool_minsize: int, conn_args: Any
    ) -> None:
        super().__init__(
            host, port, pool_size=pool_size, pool_minsize=pool_minsize, conn_args=conn_args
        )
        self._pool = _Pool(host, port, minsize=pool_minsize, maxsize=pool_size, conn_args=conn_args)

    async def _execute_simple_command(self, conn: Connection, raw_command: bytes) -> bytes:
        conn.writer.write(raw_command)
        await conn.writer.drain()
        line = await conn.reader.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionResetError("memcached closed the connection without a reply")
        return line[:-2]

    @acquire
    async def pipeline(self, conn: Connection, commands: Sequence[bytes]) -> list[bytes]:
        """Sends commands with one-line replies (`incr`, `add`, …, each ending in CRLF) in
        one write on one connection and returns their replies in order: one round trip
        for several counters (the gateway's throttling counts two windows per request)."""
        conn.writer.write(b"".join(commands))
        await conn.writer.drain()
        replies = []
        for _ in commands:
            line = await conn.reader.readline()
            if not line.endswith(b"\r\n"):
                raise ConnectionResetError("memcached closed the connection without a reply")
            replies.append(line[:-2])
        return replies


async def _answers_plaintext(address: NodeAddress) -> bool:
    """Whether ``address`` answers ``version`` as plaintext memcached."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(address.host, address.port)
            try:
                writer.write(b"version\r\n")
                await writer.drain()
                return (await reader.readline()).startswith(b"VERSION ")
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return False


async def _speaks_tls(address: NodeAddress) -> bool:
    """Whether ``address`` completes a TLS handshake (the certificate is not checked)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            _, writer = await asyncio.open_connection(address.host, address.port, ssl=probe)
            writer.close()
            return True
    except (OSError, TimeoutError):
        return False


async def configuration_problem(
    address: NodeAddress, tls: CacheTLS | None, exc: BaseException
) -> str | None:
    """Why talking to ``address`` failed when the cause is configuration, naming the setting.

    ``None`` means an outage (refused, unreachable, timed out, dropped): retrying may help.
    """
    where = f"memcached node {address.name}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        assert tls is not None
        return (
            f"{where}: its TLS certificate failed verification ({exc.verify_message}). "
            f"CACHE_TLS_CA_FILE must name the CA that signed it (checked against {tls.trust}), "
            f"and it must be issued for {tls.server_name or address.tls_name!r} "
            "(CACHE_TLS_SERVER_NAME overrides the name checked)"
        )
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return None
    if tls is not None:
        if await _answers_plaintext(address):
            return (
                f"{where} answers plaintext memcached, but CACHE_TLS=true: turn CACHE_TLS off "
                "for this server, or point CACHE_URL at a server with in-transit encryption"
            )
    elif await _speaks_tls(address):
        return (
            f"{where} only speaks TLS (in-transit encryption), but CACHE_TLS is off: "
            "set CACHE_TLS=true"
        )
    return None


class CacheNode:
    """One memcached node: its client, and whether it is down right now."""

    def __init__(self, address: NodeAddress, cluster: CacheCluster) -> None:
        self.address = address
        self._cluster = cluster
        self._client: aiomcache.Client | None = None
        self._down_until = 0.0
        self.down = False
        self._failure: type[BaseException] | None = None  # what took it down last
        self.misconfiguration_logged = False

    def _usable_client(self) -> aiomcache.Client | None:
        if self.down and time.monotonic() < self._down_until:
            return None
        if self._client is None:
            self._client = _Client(
                self.address.host,
                self.address.port,
                pool_size=self._cluster.pool_size,
                pool_minsize=1,
                conn_args=connection_args(self._cluster.tls, self.address.tls_name),
            )
        return self._client

    async def call(self, operation: Operation, command: str = "get") -> Any:
        """Run one command; on failure mark the node down and return ``None``."""
        client = self._usable_client()
        if client is None:
            return None
        obs = self._cluster.observability
        span = None
        if obs is not None:
            span = obs.tracing.child(
                f"memcached {command}",
                SpanKind.CLIENT,
                {
                    "db.system": "memcached",
                    "db.operation": command,
                    "server.address": self.address.name,
                },
            )
        started = time.perf_counter()
        try:
            # asyncio.timeout rather than wait_for: no task per command (Python 3.11).
            async with asyncio.timeout(self._cluster.timeout):
                result = await operation(client)
        except (TimeoutError, OSError, aiomcache.exceptions.ClientException) as exc:
            if obs is not None:
                obs.metrics.cache_command(command, time.perf_counter() - started, True)
                if span is not None:
                    end_span(span, f"{type(exc).__name__}: node marked down")
            if client is self._client or not self.down:
                await self._mark_down(client, exc)
            # else: a call sent before the node went down, on the client already discarded
            return None
        if obs is not None:
            obs.metrics.cache_command(command, time.perf_counter() - started, False)
            if span is not None:
                span.set_attribute("colonnade.cache.hit", result is not None)
                end_span(span)
        # Only a call on the client made after the node went down shows that it answers again:
        # calls already in flight then may still succeed, and each of those used to log a
        # recovery and the next timeout another outage, every few milliseconds under load.
        if self.down and client is self._client:
            self.down, self._failure, self.misconfiguration_logged = False, None, False
            self._cluster.degraded_changed()
            log.warning(
                "cache recovered: memcached node %s answers again",
                self.address.name,
                extra={"cache_node": self.address.name},
            )
        return result

    async def _mark_down(
        self, client: aiomcache.Client, exc: BaseException, *, outage: bool = False
    ) -> None:
        self._down_until = time.monotonic() + self._cluster.retry_after
        if self._client is client:
            self._client = None
        with contextlib.suppress(Exception):  # closing a broken client must not fail a request
            await client.close()
        first, changed = not self.down, type(exc) is not self._failure
        self.down, self._failure = True, type(exc)
        if first:
            self._cluster.degraded_changed()
        if first or changed:  # a node down for one reason may later fail for another
            self._cluster.node_failed(self, exc, first=first, outage=outage)

    async def check(self) -> str | None:
        """At start-up: a configuration problem of this node (a message), else ``None``.

        An unreachable node is not a configuration problem: it is marked down (one log
        line) and used once it answers.
        """
        client = self._usable_client()
        assert client is not None
        timeout = max(self._cluster.timeout, STARTUP_TIMEOUT)
        try:
            await asyncio.wait_for(client.version(), timeout)
        except (TimeoutError, OSError, aiomcache.exceptions.ClientException) as exc:
            problem = await configuration_problem(self.address, self._cluster.tls, exc)
            if problem is not None:
                return problem
            await self._mark_down(client, exc, outage=True)
        return None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


class CacheCluster:
    """The nodes of one memcached cluster, shared by every cache of a service."""

    def __init__(
        self,
        nodes: list[NodeAddress],
        *,
        tls: CacheTLS | None = None,
        discovery: NodeAddress | None = None,
        discovery_interval: float = 60.0,
        timeout: float = 0.25,
        pool_size: int = 16,
        retry_after: float = 1.0,
    ) -> None:
        self.tls = tls
        self.timeout = timeout
        self.pool_size = pool_size
        self.retry_after = retry_after
        self._discovery = discovery
        self._discovery_interval = discovery_interval
        self._config: ClusterConfig | None = None
        self._discovery_failing = False
        self._discovery_misconfigured = False
        self._refresh_wanted = asyncio.Event()
        self._last_refresh = 0.0
        self._refresher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._nodes: dict[str, CacheNode] = {}
        self._ring = RendezvousRing(())
        #: Where commands report (metrics, spans); set by :meth:`observe`.
        self.observability: Observability | None = None
        self._degraded_since: float | None = None
        self._degraded_total = 0.0
        self._apply(nodes)

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheCluster | None:
        """The cluster ``CACHE_*`` describe; ``None`` when ``CACHE_URL=none``."""
        addresses = parse_cache_nodes(settings.cache_url)
        if not addresses:
            return None
        tls = cache_tls(settings)
        nodes = [NodeAddress(f"{h}:{p}", h, p, h) for h, p in addresses]
        options: dict[str, Any] = {
            "tls": tls,
            "timeout": settings.cache_timeout,
            "pool_size": settings.cache_pool_size,
            "discovery_interval": settings.cache_discovery_interval,
        }
        if settings.cache_discovery:
            return cls([], discovery=nodes[0], **options)
        return cls(nodes, **options)

    # -- what callers use ---------------------------------------------------------------------

    @property
    def nodes(self) -> dict[str, CacheNode]:
        """The current nodes by name (a snapshot: discovery may replace it)."""
        return dict(self._nodes)

    @property
    def degraded(self) -> bool:
        """True while some node is down, or no node is known yet."""
        return not self._nodes or any(node.down for node in self._nodes.values())

    def observe(self, observability: Observability) -> None:
        """Report commands, hits, misses and degraded time to ``observability``."""
        self.observability = observability
        observability.metrics.watch_cache(self)

    def degraded_changed(self) -> None:
        """A node went down or came back (or the node set changed): account degraded time."""
        now = time.monotonic()
        if self.degraded:
            if self._degraded_since is None:
                self._degraded_since = now
        elif self._degraded_since is not None:
            self._degraded_total += now - self._degraded_since
            self._degraded_since = None

    def degraded_seconds(self) -> float:
        """Seconds this cluster has spent degraded (a node down), the current spell included."""
        since = self._degraded_since
        return self._degraded_total + (0.0 if since is None else time.monotonic() - since)

    def owner(self, key: bytes) -> CacheNode | None:
        """The node that owns ``key`` (down or not); ``None`` while no node is known."""
        name = self._ring.owner(key)
        return None if name is None else self._nodes[name]

    async def call(self, key: bytes, operation: Operation, command: str = "get") -> Any:
        """Run ``operation`` (memcached ``command``) on the owner of ``key``; ``None`` when
        that node is down."""
        node = self.owner(key)
        return None if node is None else await node.call(operation, command)

    async def start(self) -> None:
        """Discover the nodes (with ``CACHE_DISCOVERY``) and check each one answers.

        Raises :class:`CacheConfigurationError` for a configuration problem; unreachable
        nodes or endpoint only make the cache start degraded.
        """
        try:
            if self._discovery is not None:
                await self._refresh(startup=True)
                self._refresher = asyncio.create_task(self._refresh_loop())
            problems = await asyncio.gather(*(node.check() for node in self._nodes.values()))
        except BaseException:
            await self.close()
            raise
        found = [problem for problem in problems if problem]
        if found:
            await self.close()
            raise CacheConfigurationError("; ".join(found))

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for node in self._nodes.values():
            await node.close()

    # -- node state ---------------------------------------------------------------------------

    def node_failed(
        self, node: CacheNode, exc: BaseException, *, first: bool, outage: bool
    ) -> None:
        """A node went down (``first``) or, while down, failed in a new way.

        Logs one WARNING per outage and one ERROR per misconfiguration found, after telling
        the two apart. Unless ``outage`` says the cause is known, the telling (another
        connection attempt) runs in the background: the call that met the failure does not
        wait for it.
        """
        if self._discovery is not None and first:
            self._refresh_wanted.set()  # a replaced node shows up as a new configuration
        if outage:
            if first:
                _log_outage(node.address, exc)
        else:
            self._spawn(self._report_failure(node, exc, first))

    async def _report_failure(self, node: CacheNode, exc: BaseException, first: bool) -> None:
        problem = await configuration_problem(node.address, self.tls, exc)
        if problem is None:
            if first:
                _log_outage(node.address, exc)
        elif not node.misconfiguration_logged:
            node.misconfiguration_logged = True
            log.error(
                "cache misconfigured: %s; serving its keys from the database",
                problem,
                extra={"cache_node": node.address.name, "error": _describe(exc)},
            )

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _apply(self, addresses: list[NodeAddress]) -> list[CacheNode]:
        """Make ``addresses`` the node set; returns the nodes dropped (to close)."""
        current: dict[str, CacheNode] = {}
        for address in addresses:
            kept = self._nodes.get(address.name)
            current[address.name] = (
                kept if kept is not None and kept.address == address else CacheNode(address, self)
            )
        dropped = [node for name, node in self._nodes.items() if current.get(name) is not node]
        self._nodes = current
        self._ring = RendezvousRing(current)
        if hasattr(self, "_degraded_total"):  # not yet during __init__
            self.degraded_changed()
        return dropped

    # -- Auto Discovery -----------------------------------------------------------------------

    def _discovered_addresses(self, config: ClusterConfig) -> list[NodeAddress]:
        return [
            NodeAddress(node.name, node.connect_host, node.port, node.hostname or node.ip)
            for node in config.nodes
        ]

    async def _refresh(self, *, startup: bool = False) -> None:
        """Ask the configuration endpoint for the nodes; apply them when they changed."""
        endpoint = self._discovery
        assert endpoint is not None
        self._last_refresh = time.monotonic()
        try:
            async with asyncio.timeout(max(self.timeout, STARTUP_TIMEOUT)):
                config = await fetch_cluster_config(
                    endpoint.host, endpoint.port, connection_args(self.tls, endpoint.tls_name)
                )
        except DiscoveryProtocolError as exc:
            self._discovery_failed(
                f"CACHE_DISCOVERY=true, but {endpoint.name} is not an ElastiCache configuration "
                f"endpoint ({_describe(exc)} in reply to `config get cluster`): point CACHE_URL "
                "at the cluster's configuration endpoint, or set CACHE_DISCOVERY=false and list "
                "the nodes in CACHE_URL",
                exc,
                startup,
            )
            return
        except (TimeoutError, OSError) as exc:
            problem = await configuration_problem(endpoint, self.tls, exc)
            self._discovery_failed(
                None if problem is None else f"the configuration endpoint: {problem}", exc, startup
            )
            return
        if self._discovery_failing:
            self._discovery_failing = self._discovery_misconfigured = False
            log.warning(
                "cache discovery recovered: %s answers again",
                endpoint.name,
                extra={"cache_node": endpoint.name},
            )
        if self._config is not None and config == self._config:
            return
        previous, self._config = self._config, config
        dropped = self._apply(self._discovered_addresses(config))
        log.info(
            "cache nodes discovered: version %s, %s",
            config.version,
            " ".join(sorted(self._nodes)),
            extra={
                "cache_node": endpoint.name,
                "version": config.version,
                "previous_version": previous.version if previous else None,
            },
        )
        for node in dropped:
            self._spawn(node.close())

    def _discovery_failed(self, problem: str | None, exc: BaseException, startup: bool) -> None:
        """At start-up a configuration problem raises; later, log one line per kind of failure."""
        if problem is not None and startup:
            raise CacheConfigurationError(problem) from exc
        already = self._discovery_misconfigured if problem else self._discovery_failing
        self._discovery_failing = True
        self._discovery_misconfigured = self._discovery_misconfigured or problem is not None
        if already:
            return
        known = f"keeping the last {len(self._nodes)} nodes" if self._nodes else "no nodes known"
        assert self._discovery is not None
        if problem is not None:
            log.error(
                "cache misconfigured: %s; %s",
                problem,
                known,
                extra={"cache_node": self._discovery.name, "error": _describe(exc)},
            )
        else:
            log.warning(
                "cache discovery failed: %s unreachable, %s",
                self._discovery.name,
                known,
                extra={"cache_node": self._discovery.name, "error": _describe(exc)},
            )

    async def _refresh_loop(self) -> None:
        backoff = 1.0
        while True:
            # Until a first list is known, retry sooner than the interval.
            delay = (
                self._discovery_interval if self._config else min(backoff, self._discovery_interval)
            )
            backoff = min(backoff * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._refresh_wanted.wait(), delay)
            gap = min(_MIN_REFRESH_GAP, self._discovery_interval) - (
                time.monotonic() - self._last_refresh
            )
            if gap > 0:
                await asyncio.sleep(gap)
            self._refresh_wanted.clear()
            try:
                await self._refresh()
            except Exception:  # the loop must outlive any surprise; the last list stays
                log.exception("cache discovery refresh failed unexpectedly")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _log_outage(address: NodeAddress, exc: BaseException) -> None:
    log.warning(
        "cache degraded: memcached node %s unreachable, serving its keys from the database",
        address.name,
        extra={"cache_node": address.name, "error": _describe(exc)},
    )
