"""Response caching in memcached for GETs whose policy declares a TTL.

* **Key**: the method, the raw path (so its path values), the query parameters (sorted, so
  their order does not matter) and — unless the method is public or its policy says its
  answers do not vary by caller — the caller's identity (API key id or token subject). One
  caller never sees another's answer; anonymous callers of a public method share one.
* **Freshness**: entries live `cache_ttl_seconds`. Every successful write through the
  gateway (any non-GET answered 2xx) bumps one generation counter in memcached, and an entry
  stored under an older generation is never served. This is coarse on purpose: a write to
  one resource can change others (an order takes stock from products), and the gateway
  cannot know which, so every write invalidates every cached answer. Writes that reach the
  services another way (gRPC directly, the expiry sweep) are seen after at most the TTL.
* **Validation**: cached and fresh answers carry a strong `ETag` (a digest of the body) and
  `Cache-Control` (`public` or `private`, `max-age` = the TTL); `If-None-Match` with a
  matching tag is answered 304 without a body. `Cache-Control: no-cache` (or
  `Pragma: no-cache`) from the client skips the lookup and refreshes the entry.
* **Never in the way**: memcached down → nothing is cached or served from the cache, and
  the request goes to the backend. `X-Cache: HIT | MISS | BYPASS` says what happened.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson

from colonnade.gateway.authn import caller_key
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.pipeline import Step, StepResult
from colonnade.gateway.responses import Reply, Response
from colonnade.runtime.cachecluster import CacheCluster

log = logging.getLogger("colonnade.gateway")

GENERATION_KEY = b"rc:generation"
MAX_ENTRY = 512 * 1024
_KEPT = (b"content-type",)
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
VARY = (b"vary", b"Authorization, X-Api-Key")


def etag_of(body: bytes) -> bytes:
    """A strong entity tag for a body."""
    return b'"' + hashlib.sha256(body).hexdigest()[:32].encode() + b'"'


def matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 §13.1.2 weak comparison of an If-None-Match list with `etag`."""
    for candidate in if_none_match.split(b","):
        tag = candidate.strip()
        if tag == b"*" or tag.removeprefix(b"W/") == etag:
            return True
    return False


class _Lookup:
    __slots__ = ("cache_control", "generation", "key", "ttl")

    def __init__(self, key: bytes, generation: bytes, ttl: int, cache_control: bytes) -> None:
        self.key = key
        self.generation = generation
        self.ttl = ttl
        self.cache_control = cache_control


class ResponseCache(Step):
    """Serves cacheable GETs from memcached and invalidates on writes (module docstring)."""

    name = "response-cache"

    def __init__(self, cluster: CacheCluster) -> None:
        self.cluster = cluster
        self.hits = 0
        self.stores = 0
        self._reads: dict[bytes, asyncio.Future[tuple[bytes | None, bytes | None]]] = {}

    # -- request ---------------------------------------------------------------------------

    def request(self, ex: Exchange) -> StepResult:
        method = ex.method
        if method != "GET":
            if method in _WRITE_METHODS:
                ex.defer(self._after_write)
            return None
        ep = ex.endpoint
        policy = ep.policy
        if policy is None or not policy.cache_ttl or ep.server_streaming:
            return None
        return self._lookup(ex)

    def _key(self, ex: Exchange) -> bytes:
        ep = ex.endpoint
        policy = ep.policy
        assert policy is not None
        query = ex.scope.get("query_string", b"")
        parts = [ep.grpc_path.encode(), ex.path.encode("latin-1")]
        parts.append(b"&".join(sorted(query.split(b"&"))))
        if policy.cache_varies_by_caller:
            parts.append(caller_key(ex).encode("utf-8", "replace"))
        return b"rc:" + hashlib.sha256(b"\x00".join(parts)).hexdigest().encode()

    async def _lookup(self, ex: Exchange) -> Response | None:
        policy = ex.endpoint.policy
        assert policy is not None
        key = self._key(ex)
        cluster = self.cluster
        node = cluster.owner(GENERATION_KEY)
        raw = None
        if node is cluster.owner(key) and not _no_cache(ex):
            # one round trip when one node holds both (one node, or the hash says so)
            generation, raw = await self._read(key)
        else:
            generation = await cluster.call(GENERATION_KEY, lambda c: c.get(GENERATION_KEY))
        if node is None or node.down:
            return None  # memcached unreachable: straight to the backend
        generation = generation or b"0"
        scope = b"public" if not policy.cache_varies_by_caller else b"private"
        control = scope + b", max-age=" + str(policy.cache_ttl).encode()
        lookup = _Lookup(key, generation, policy.cache_ttl, control)
        ex.defer(lambda response: self._store(ex, lookup, response))
        if _no_cache(ex):
            ex.response_headers.append((b"x-cache", b"BYPASS"))
            return None
        if raw is None and node is not cluster.owner(key):
            raw = await cluster.call(key, lambda c: c.get(key))
        if raw is None:
            ex.response_headers.append((b"x-cache", b"MISS"))
            return None
        head, _, body = raw.partition(b"\n")
        try:
            meta: dict[str, Any] = orjson.loads(head)
        except orjson.JSONDecodeError:
            return None
        if meta.get("g") != generation.decode("latin-1"):
            ex.response_headers.append((b"x-cache", b"MISS"))
            return None
        self.hits += 1
        lookup.key = b""  # served from the cache: nothing to store
        etag = meta["e"].encode("latin-1")
        headers = [
            *ex.response_headers,
            (b"x-cache", b"HIT"),
            (b"etag", etag),
            (b"cache-control", control),
        ]
        if policy.cache_varies_by_caller:
            headers.append(VARY)
        inm = _header(ex, b"if-none-match")
        if inm is not None and matches(inm, etag):
            return Reply(304, headers, b"")
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"]]
        return Reply(int(meta["s"]), headers, body)

    async def _read(self, key: bytes) -> tuple[bytes | None, bytes | None]:
        """The generation and the entry in one `get`; concurrent lookups of one key share it
        (single flight). A write through this gateway detaches later lookups from a read
        that started before it."""
        inflight = self._reads.get(key)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[tuple[bytes | None, bytes | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._reads[key] = future
        try:
            values = await self.cluster.call(key, lambda c: c.multi_get(GENERATION_KEY, key))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: joiners re-raise it themselves
            raise
        finally:
            if self._reads.get(key) is future:
                del self._reads[key]
        result = (values[0], values[1]) if values is not None else (None, None)
        future.set_result(result)
        return result

    # -- on the way back -------------------------------------------------------------------

    async def _store(self, ex: Exchange, lookup: _Lookup, response: Response) -> None:
        if not lookup.key or not isinstance(response, Reply) or response.status != 200:
            return
        body = response.body
        etag = etag_of(body)
        response.headers += [(b"etag", etag), (b"cache-control", lookup.cache_control)]
        policy = ex.endpoint.policy
        if policy is not None and policy.cache_varies_by_caller:
            response.headers.append(VARY)
        inm = _header(ex, b"if-none-match")
        if response.trailers or len(body) > MAX_ENTRY:
            return
        kept = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in response.headers
            if k in _KEPT or k.startswith(b"grpc-metadata-")
        ]
        head = orjson.dumps(
            {"g": lookup.generation.decode("latin-1"), "e": etag.decode(), "s": 200, "h": kept}
        )
        data = head + b"\n" + body
        key, ttl = lookup.key, lookup.ttl
        await self.cluster.call(key, lambda c: c.set(key, data, exptime=ttl))
        self.stores += 1
        if inm is not None and matches(inm, etag):
            response.status, response.body = 304, b""
            response.headers = [(k, v) for k, v in response.headers if k != b"content-type"]

    async def _after_write(self, response: Response) -> None:
        if 200 <= response.status < 300:
            self._reads.clear()  # lookups from now on read afresh
            await self.cluster.call(GENERATION_KEY, _bump)


async def _bump(client: Any) -> None:
    try:
        await client.incr(GENERATION_KEY)
    except Exception as exc:
        if "NOT_FOUND" not in str(exc):
            raise
        if not await client.add(GENERATION_KEY, b"1"):
            await client.incr(GENERATION_KEY)


def _header(ex: Exchange, name: bytes) -> bytes | None:
    for key, value in ex.headers:
        if key == name:
            return value
    return None


def _no_cache(ex: Exchange) -> bool:
    for key, value in ex.headers:
        if key == b"cache-control" and b"no-cache" in value.lower():
            return True
        if key == b"pragma" and b"no-cache" in value.lower():
            return True
    return False
