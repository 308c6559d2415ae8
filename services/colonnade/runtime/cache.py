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
* **Degraded mode**: any memcached error or timeout switches the cache off for
  ``retry_after`` seconds (one warning log line), reads go to the database, and
  the next attempt after that reconnects with a fresh client. A timed-out
  command may leave a half-read reply on its connection, so the whole client is
  discarded rather than reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import aiomcache

log = logging.getLogger("colonnade.cache")

T = TypeVar("T")

_TOMBSTONE = b"\x00tombstone"
_MAX_KEY = 250


class ReadThroughCache(Generic[T]):
    """Caches values of one kind under ``namespace``, encoded by ``encode``/``decode``."""

    def __init__(
        self,
        address: tuple[str, int] | None,
        *,
        namespace: str,
        encode: Callable[[T], bytes],
        decode: Callable[[bytes], T],
        ttl: int = 300,
        timeout: float = 0.25,
        pool_size: int = 16,
        retry_after: float = 1.0,
        tombstone_ttl: int = 2,
    ) -> None:
        self._address = address
        self._namespace = namespace
        self._encode = encode
        self._decode = decode
        self._ttl = ttl
        self._timeout = timeout
        self._pool_size = pool_size
        self._retry_after = retry_after
        self._tombstone_ttl = tombstone_ttl
        self._client: aiomcache.Client | None = None
        self._down_until = 0.0
        self._degraded = False
        self._inflight: dict[bytes, asyncio.Future[T | None]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def degraded(self) -> bool:
        """True while memcached is unreachable and reads go straight to the loader."""
        return self._degraded

    def _key(self, key: str) -> bytes:
        raw = f"{self._namespace}:{key}".encode()
        if len(raw) > _MAX_KEY or any(b <= 32 or b == 127 for b in raw):
            raw = f"{self._namespace}:sha256:{hashlib.sha256(raw).hexdigest()}".encode()
        return raw

    def _usable_client(self) -> aiomcache.Client | None:
        if self._address is None:
            return None
        if self._degraded and time.monotonic() < self._down_until:
            return None
        if self._client is None:
            host, port = self._address
            self._client = aiomcache.Client(host, port, pool_size=self._pool_size, pool_minsize=1)
        return self._client

    async def _call(self, operation: Callable[[aiomcache.Client], Awaitable[Any]]) -> Any:
        """Run one memcached command; on failure go degraded and return ``None``."""
        client = self._usable_client()
        if client is None:
            return None
        try:
            result = await asyncio.wait_for(operation(client), self._timeout)
        except (TimeoutError, OSError, aiomcache.exceptions.ClientException) as exc:
            await self._mark_down(client, exc)
            return None
        if self._degraded:
            self._degraded = False
            log.warning(
                "cache recovered: memcached answers again", extra={"cache": self._namespace}
            )
        return result

    async def _mark_down(self, client: aiomcache.Client, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry_after
        if self._client is client:
            self._client = None
        with contextlib.suppress(Exception):  # closing a broken client must not fail a request
            await client.close()
        if not self._degraded:
            self._degraded = True
            log.warning(
                "cache degraded: memcached unreachable, serving from the database",
                extra={"cache": self._namespace, "error": f"{type(exc).__name__}: {exc}"},
            )

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The cached value for ``key``, else ``await load()`` (cached unless ``None``)."""
        raw_key = self._key(key)
        cached = await self._call(lambda c: c.get(raw_key))
        if cached is not None and cached != _TOMBSTONE:
            self.hits += 1
            return self._decode(cached)
        self.misses += 1
        fill = cached is None  # a tombstone means "recently written": don't refill yet
        pending = self._inflight.get(raw_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._inflight[raw_key] = future
        try:
            value = await load()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: joiners re-raise it themselves
            raise
        finally:
            if self._inflight.get(raw_key) is future:
                del self._inflight[raw_key]
        future.set_result(value)
        if value is not None and fill:
            data = self._encode(value)
            await self._call(lambda c: c.add(raw_key, data, exptime=self._ttl))
        return value

    async def invalidate(self, key: str) -> None:
        """Forget ``key`` after a write committed (see the module docstring)."""
        raw_key = self._key(key)
        self._inflight.pop(raw_key, None)
        await self._call(lambda c: c.set(raw_key, _TOMBSTONE, exptime=self._tombstone_ttl))

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
