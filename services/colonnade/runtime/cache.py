"""A memcached read-through cache (aiomcache) that never takes the service down.

* **Read-through**: :meth:`ReadThroughCache.get_or_load` returns the cached value
  or calls the loader (the database) and fills the cache.
* **Explicit invalidation**: writers call :meth:`invalidate` after they commit.
  It writes a short-lived tombstone rather than deleting, and fills use ``add``
  (store only if absent), so a reader that loaded the old row just before the
  write cannot put it back into the cache after the invalidation.
* **Stampede protection**: concurrent misses on one key in this process share
  one load (single flight); an invalidation detaches later readers from a load
  that started before it.
* **Several nodes, degraded per node**: each key lives on one node of a
  :class:`~colonnade.runtime.cachecluster.CacheCluster` (consistent hashing, TLS,
  Auto Discovery). Any memcached error or timeout takes that node out for
  ``retry_after`` seconds (one warning log line), its keys are read from the
  database meanwhile (never moved to another node), and the next attempt after
  that reconnects with a fresh client. A timed-out command may leave a half-read
  reply on its connection, so the node's whole client is discarded rather than
  reused. The other nodes keep serving hits.
* **Hot entries in process** (``local_ttl`` > 0, ``CACHE_LOCAL_TTL``): a value read from
  memcached or loaded is also kept in this process's memory and served from there for
  ``local_ttl`` seconds, without a memcached round trip or decoding. That is the staleness
  bound: a write made by another process (another worker, another task) shows here at most
  ``local_ttl`` seconds after this process read the entry. A write made through this
  process's :meth:`ReadThroughCache.invalidate` drops the entry at once, and a read that
  started before such an invalidation never keeps what it read. At most ``local_entries``
  are kept (the oldest go first).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import aiomcache

from colonnade.runtime.cachecluster import CacheCluster

T = TypeVar("T")

_TOMBSTONE = b"\x00tombstone"
_MAX_KEY = 250
#: What memcached's text protocol forbids in a key: control characters, space and DEL.
_KEY_UNSAFE = re.compile(rb"[\x00-\x20\x7f]")


class ReadThroughCache(Generic[T]):
    """Caches values of one kind under ``namespace``, encoded by ``encode``/``decode``.

    ``cluster`` is shared by every cache of a service; ``None`` disables caching.
    """

    def __init__(
        self,
        cluster: CacheCluster | None,
        *,
        namespace: str,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        ttl: int = 300,
        tombstone_ttl: int = 2,
        local_ttl: float = 0.0,
        local_entries: int = 10_000,
    ) -> None:
        self._cluster = cluster
        self._namespace = namespace
        self._encode = encode
        self._decode = decode
        self._ttl = ttl
        self._tombstone_ttl = tombstone_ttl
        #: Loads in flight, by memcached key (by ``key`` when caching is off).
        self._inflight: dict[str | bytes, asyncio.Future[T | None]] = {}
        # Hot entries: key → (served until, time.monotonic(); value). Off without memcached.
        self._local_ttl = local_ttl if cluster is not None else 0.0
        self._local_entries = max(1, local_entries)
        self._local: dict[str, tuple[float, T]] = {}
        #: Invalidations so far: a read keeps its value in memory only if none came meanwhile.
        self._epoch = 0
        self.hits = 0
        self.misses = 0
        #: Hits served from this process's memory (also counted in ``hits``).
        self.local_hits = 0

    @property
    def enabled(self) -> bool:
        return self._cluster is not None

    @property
    def hot(self) -> bool:
        """Whether values are kept in this process's memory (hot entries are on): a value
        read again within ``local_ttl`` is then the very same object."""
        return bool(self._local_ttl)

    @property
    def degraded(self) -> bool:
        """True while some memcached node is unreachable and its keys go to the loader."""
        return self._cluster is not None and self._cluster.degraded

    def owner(self, key: str) -> str | None:
        """The name (``host:port``) of the memcached node that holds ``key``, if any."""
        node = None if self._cluster is None else self._cluster.owner(self._key(key))
        return None if node is None else node.address.name

    def _key(self, key: str) -> bytes:
        raw = f"{self._namespace}:{key}".encode()
        if len(raw) > _MAX_KEY or _KEY_UNSAFE.search(raw):
            raw = f"{self._namespace}:sha256:{hashlib.sha256(raw).hexdigest()}".encode()
        return raw

    async def _call(
        self,
        raw_key: bytes,
        operation: Callable[[aiomcache.Client], Awaitable[Any]],
        command: str,
    ) -> Any:
        """Run one command on the node owning ``raw_key``; ``None`` when it is down."""
        if self._cluster is None:
            return None
        return await self._cluster.call(raw_key, operation, command)

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The cached value for ``key``, else ``await load()`` (cached unless ``None``)."""
        cluster = self._cluster
        if cluster is None:
            # Caching off: no memcached key to build, no node to ask; still one load per key.
            self.misses += 1
            pending = self._inflight.get(key)
            if pending is not None:
                return await asyncio.shield(pending)
            return await self._load_once(key, load)
        obs = cluster.observability
        if self._local_ttl:
            entry = self._local.get(key)
            if entry is not None:
                if entry[0] > time.monotonic():
                    self.hits += 1
                    self.local_hits += 1
                    if obs is not None:
                        obs.metrics.cache_lookup(True)
                    return entry[1]
                del self._local[key]
        epoch = self._epoch
        raw_key = self._key(key)
        cached = await self._call(raw_key, lambda c: c.get(raw_key), "get")
        if cached is not None and cached != _TOMBSTONE:
            self.hits += 1
            if obs is not None:
                obs.metrics.cache_lookup(True)
            hit = self._decode(cached)
            self._remember(key, hit, epoch)
            return hit
        self.misses += 1
        if obs is not None:
            obs.metrics.cache_lookup(False)
        fill = cached is None  # a tombstone means "recently written": don't refill yet
        pending = self._inflight.get(raw_key)
        if pending is not None:
            return await asyncio.shield(pending)
        value = await self._load_once(raw_key, load)
        if value is not None:
            self._remember(key, value, epoch)
        if value is not None and fill:
            data = self._encode(value)
            await self._call(raw_key, lambda c: c.add(raw_key, data, exptime=self._ttl), "add")
        return value

    async def _load_once(
        self, flight: str | bytes, load: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """``await load()``, shared with the calls that find it in flight under ``flight``."""
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: joiners re-raise it themselves
            raise
        finally:
            if self._inflight.get(flight) is future:
                del self._inflight[flight]
        future.set_result(value)
        return value

    def _remember(self, key: str, value: T, epoch: int) -> None:
        """Keep ``value`` in memory, unless an invalidation came since its read began."""
        if not self._local_ttl or epoch != self._epoch:
            return
        local = self._local
        local.pop(key, None)  # re-inserted last: the dict's order is the entries' age
        if len(local) >= self._local_entries:
            del local[next(iter(local))]
        local[key] = (time.monotonic() + self._local_ttl, value)

    async def invalidate(self, key: str) -> None:
        """Forget ``key`` after a write committed (see the module docstring)."""
        self._epoch += 1
        self._local.pop(key, None)
        if self._cluster is None:
            self._inflight.pop(key, None)
            return
        raw_key = self._key(key)
        self._inflight.pop(raw_key, None)
        await self._call(
            raw_key, lambda c: c.set(raw_key, _TOMBSTONE, exptime=self._tombstone_ttl), "set"
        )
