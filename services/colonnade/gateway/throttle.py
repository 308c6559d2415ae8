"""Throttling: fixed-window counters per caller and rate-limit class, shared in memcached.

Who counts: the API key (`key:<id>`), else the token's subject (`sub:<subject>`), else the
client's address (`ip:<address>`; X-Forwarded-For's last hop with `trust_forwarded_for`,
i.e. the address the load balancer in front saw). What counts: the rate-limit class the
method's policy names; each class has a limit per second and per minute (`rate_limits`).

The algorithm (BUILD.md "Edge policies" discusses it): for each window the key is
`rl:<class>:<who>:<window start>`; the gateway increments it *before* deciding (`incr`; on a
missing key `add` with the window's expiry, and `incr` again when another replica's `add`
won), and admits the request only if both counts are within their limits. Requests of one
event-loop turn are counted in one round trip (`incr key n`), each getting its own count; a
caller busy on this replica gets counts taken ahead (a lease of up to a quarter second of its
recent traffic, `MAX_LEASE` at most), so its next requests need no round trip. Every count
is a distinct ordinal of its window across all replicas (memcached's `incr` is atomic), so
no more than the limit is ever admitted however many replicas there are; counts leased and
not used before the window ends are lost (fewer admitted, never more). Windows are aligned
to the clock, so up to twice a limit can pass around a window edge, and replicas' clock skew
moves their edges.

Over the limit: 429 RESOURCE_EXHAUSTED with `Retry-After` (seconds to the end of the
window that is full). Every answer carries `RateLimit-Limit`, `RateLimit-Remaining`,
`RateLimit-Reset` (the window nearest to exhaustion) and `RateLimit-Policy` (both windows).

Memcached down (or not configured): each replica counts alone, against the limit divided by
`replicas`, and says so once in the log (and once when memcached answers again): the fleet
admits about the same total without a shared store, and no request fails for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiomcache

from colonnade.gateway.authn import caller_key
from colonnade.gateway.errors import ConfigError, StatusError
from colonnade.gateway.exchange import Exchange
from colonnade.gateway.pipeline import Step, StepResult
from colonnade.gateway.status import Code
from colonnade.runtime.cachecluster import CacheCluster

log = logging.getLogger("colonnade.gateway")


@dataclass(frozen=True, slots=True)
class Limit:
    """One class's limits."""

    per_second: int
    per_minute: int


def parse_rate_limits(items: Sequence[str]) -> dict[str, Limit]:
    """`["read=50/1000", …]` → `{"read": Limit(50, 1000)}`; ConfigError when malformed."""
    out: dict[str, Limit] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        per_s, slash, per_m = spec.partition("/")
        try:
            if not sep or not slash:
                raise ValueError
            limit = Limit(int(per_s), int(per_m))
        except ValueError:
            raise ConfigError(
                f"rate_limits: {item!r} must look like CLASS=PER_SECOND/PER_MINUTE"
            ) from None
        if limit.per_second < 1 or limit.per_minute < 1:
            raise ConfigError(f"rate_limits: {item!r} needs limits of at least 1")
        out[name.strip()] = limit
    return out


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one request's counting."""

    allowed: bool
    headers: list[tuple[bytes, bytes]]
    retry_after: int = 0


def _who(ex: Exchange, trust_forwarded_for: bool) -> str:
    if ex.principal is not None:
        return caller_key(ex)
    # anonymous: the client's address
    if trust_forwarded_for:
        for name, value in ex.headers:
            if name == b"x-forwarded-for":
                return "ip:" + value.decode("latin-1").rsplit(",", 1)[-1].strip()
    client = ex.scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


Keys = tuple[bytes, bytes]
_TTLS = (2, 61)  # seconds a window's counter outlives its window
#: Bytes that may appear in a memcached key as they are (printable ASCII, no space).
_KEY_SAFE = bytes(range(0x21, 0x7F))
#: At most this many counts are taken from memcached ahead of the requests they are for.
MAX_LEASE = 64
Waiting = list[asyncio.Future[int | None]]


def _batch_op(batch: dict[bytes, tuple[int, int]]) -> Callable[[Any], Any]:
    """Every counter of the batch incremented by its number of counts, in one round trip
    (`incr key n`); a window's first hit creates its key with `add` (value n, the window's
    expiry) and, if another replica's `add` won the race, counts with `incr` after all."""

    async def op(client: Any) -> dict[bytes, int]:
        items = list(batch.items())
        replies = await client.pipeline([b"incr %s %d\r\n" % (k, n) for k, (n, _) in items])
        values: dict[bytes, int] = {}
        for (key, (n, ttl)), reply in zip(items, replies, strict=True):
            if reply == b"NOT_FOUND":
                added = await client.pipeline(
                    [b"add %s 0 %d %d\r\n%d\r\n" % (key, ttl, len(str(n)), n)]
                )
                if added[0] == b"STORED":
                    values[key] = n
                    continue
                reply = (await client.pipeline([b"incr %s %d\r\n" % (key, n)]))[0]
            if not reply.isdigit():
                raise aiomcache.exceptions.ClientException("incr failed", reply)
            values[key] = int(reply)
        return values

    return op


class FixedWindowLimiter:
    """Counts requests per (class, caller) in memcached, or per replica when it is down."""

    def __init__(
        self,
        cluster: CacheCluster | None,
        limits: Mapping[str, Limit],
        *,
        replicas: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cluster = cluster
        self.limits = dict(limits)
        self.replicas = replicas
        self.clock = clock
        self.local_mode = cluster is None
        self._local: dict[bytes, int] = {}
        self._local_window = (-1, -1)
        # Requests waiting for a count in this event-loop turn, by counter: sent together.
        self._pending: dict[bytes, tuple[Waiting, int, int]] = {}
        # Counts taken ahead, by counter: [next, last]; and requests seen per caller/window.
        self._leases: dict[bytes, list[int]] = {}
        self._lease_window = (-1, -1)
        self._rates: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        if cluster is None:
            log.warning(
                "rate limits are per replica (limit / %d): no memcached configured", replicas
            )

    @staticmethod
    def _key(cls: str, who: str, window: str) -> bytes:
        raw = f"rl:{cls}:{who}:{window}".encode()
        if len(raw) > 200 or raw.translate(None, _KEY_SAFE):
            digest = hashlib.sha256(who.encode()).hexdigest()[:32]
            raw = f"rl:{cls}:h{digest}:{window}".encode()
        return raw

    def _recent(self, rate_key: tuple[str, str], second: int) -> int:
        """Requests this replica counted for the caller in the previous second (this one
        counted too)."""
        seen = self._rates.get(rate_key)
        if seen is None or seen[0] != second:
            previous = seen[1] if seen is not None and seen[0] == second - 1 else 0
            seen = (second, 0, previous)
        self._rates[rate_key] = (second, seen[1] + 1, seen[2])
        return seen[2]

    def _lease_size(self, recent: int, limit: int) -> int:
        """How many counts to take for a window beyond the requests waiting: a quarter of a
        second of this caller's recent traffic here (1 for a new or quiet caller), at most a
        quarter of this replica's share of the window's limit and MAX_LEASE."""
        cap = min(MAX_LEASE, limit // (4 * self.replicas))
        return max(1, min(recent // 4, cap))

    def _take(self, key: bytes, ttl: int, lease: int) -> int | asyncio.Future[int | None]:
        """This request's count in one window: from this replica's lease when it has one,
        else from the next batch (a future; None when memcached failed).

        Requests of one event-loop turn are counted together: one `incr key n` per counter
        and node; each waiting request gets its own count (the counter before the batch + 1,
        + 2, …) and counts beyond them become this replica's lease for the window. Every
        count is a distinct ordinal of the window across all replicas, so no more than the
        limit are ever admitted; counts leased but unused when the window ends are lost
        (fewer admitted, never more).
        """
        held = self._leases.get(key)
        if held is not None and held[0] <= held[1]:
            count = held[0]
            held[0] += 1
            return count
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        waiting = self._pending.get(key)
        if waiting is None:
            self._pending[key] = ([future], ttl, lease)
        else:
            waiting[0].append(future)
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        cluster = self.cluster
        assert cluster is not None
        by_node: dict[object, dict[bytes, tuple[Waiting, int, int]]] = {}
        for key, entry in pending.items():
            by_node.setdefault(cluster.owner(key), {})[key] = entry
        for group in by_node.values():
            task = asyncio.ensure_future(self._send(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, group: dict[bytes, tuple[Waiting, int, int]]) -> None:
        assert self.cluster is not None
        sizes = {key: max(len(w), lease) for key, (w, _, lease) in group.items()}
        batch = {key: (sizes[key], ttl) for key, (_, ttl, _) in group.items()}
        try:
            totals = await self.cluster.call(next(iter(group)), _batch_op(batch))
        except Exception:  # never strand a request: count it locally instead
            log.exception("rate-limit counting failed")
            totals = None
        for key, (futures, _, _) in group.items():
            if totals is None:
                for f in futures:
                    if not f.done():
                        f.set_result(None)
                continue
            end = totals[key]
            start = end - sizes[key] + 1
            for i, f in enumerate(futures):
                if not f.done():
                    f.set_result(start + i)
            if start + len(futures) <= end:
                self._leases[key] = [start + len(futures), end]

    async def _counts(
        self, cls: str, who: str, keys: Keys, second: int, minute: int, limit: Limit
    ) -> tuple[int, int] | None:
        if (second, minute) != self._lease_window:
            suffixes = (b":s%d" % second, b":m%d" % minute)
            self._leases = {k: v for k, v in self._leases.items() if k.endswith(suffixes)}
            if len(self._rates) > 100_000:
                self._rates.clear()
            self._lease_window = (second, minute)
        recent = self._recent((cls, who), second)
        taken = (
            self._take(keys[0], _TTLS[0], self._lease_size(recent, limit.per_second)),
            self._take(keys[1], _TTLS[1], self._lease_size(recent, limit.per_minute)),
        )
        counts: list[int] = []
        for t in taken:
            value = t if isinstance(t, int) else await t
            if value is None:
                return None
            counts.append(value)
        return counts[0], counts[1]

    async def hit(self, cls: str, who: str) -> Decision:
        """Counts one request and decides (the counting happens before the decision)."""
        limit = self.limits[cls]
        now = self.clock()
        second, minute = int(now), int(now // 60)
        keys = (self._key(cls, who, f"s{second}"), self._key(cls, who, f"m{minute}"))
        counts = None
        if self.cluster is not None:
            counts = await self._counts(cls, who, keys, second, minute, limit)
            if counts is None and not self.local_mode:
                self.local_mode = True
                log.warning(
                    "rate limits are per replica (limit / %d) while memcached is unreachable",
                    self.replicas,
                )
            elif counts is not None and self.local_mode:
                self.local_mode = False
                log.warning("rate limits are shared again: memcached answers")
        per_s, per_m = limit.per_second, limit.per_minute
        if counts is None:
            counts = self._local_hit(keys, second, minute)
            per_s = max(1, per_s // self.replicas)
            per_m = max(1, per_m // self.replicas)
        return _decide(counts, per_s, per_m, now)

    def _local_hit(self, keys: tuple[bytes, bytes], second: int, minute: int) -> tuple[int, int]:
        old_second, old_minute = self._local_window
        if (second, minute) != (old_second, old_minute):
            suffixes = (b":s%d" % second, b":m%d" % minute)
            self._local = {k: v for k, v in self._local.items() if k.endswith(suffixes)}
            self._local_window = (second, minute)
        local = self._local
        s = local[keys[0]] = local.get(keys[0], 0) + 1
        m = local[keys[1]] = local.get(keys[1], 0) + 1
        return s, m


def _decide(counts: tuple[int, int], per_s: int, per_m: int, now: float) -> Decision:
    c_s, c_m = counts
    reset_s = max(1, math.ceil(math.floor(now) + 1 - now))
    reset_m = max(1, math.ceil((math.floor(now / 60) + 1) * 60 - now))
    left_s, left_m = max(0, per_s - c_s), max(0, per_m - c_m)
    # Report the window nearest to exhaustion (the one a client must respect).
    if left_m * per_s < left_s * per_m:
        limit, left, reset = per_m, left_m, reset_m
    else:
        limit, left, reset = per_s, left_s, reset_s
    headers = [
        (b"ratelimit-limit", str(limit).encode()),
        (b"ratelimit-remaining", str(left).encode()),
        (b"ratelimit-reset", str(reset).encode()),
        (b"ratelimit-policy", f"{per_s};w=1, {per_m};w=60".encode()),
    ]
    if c_m > per_m:
        return Decision(False, headers, reset_m)
    if c_s > per_s:
        return Decision(False, headers, reset_s)
    return Decision(True, headers)


class Throttle(Step):
    """Counts the request against its method's class; 429 over a limit."""

    name = "throttle"

    def __init__(self, limiter: FixedWindowLimiter, trust_forwarded_for: bool = False) -> None:
        self.limiter = limiter
        self.trust_forwarded_for = trust_forwarded_for

    def request(self, ex: Exchange) -> StepResult:
        return self._count(ex)

    async def _count(self, ex: Exchange) -> None:
        policy = ex.endpoint.policy
        assert policy is not None
        decision = await self.limiter.hit(
            policy.rate_limit_class, _who(ex, self.trust_forwarded_for)
        )
        ex.response_headers += decision.headers
        if not decision.allowed:
            raise StatusError(
                Code.RESOURCE_EXHAUSTED,
                f"rate limit of class {policy.rate_limit_class!r} reached; retry in "
                f"{decision.retry_after} s",
                headers=[(b"retry-after", str(decision.retry_after).encode())],
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{decision.retry_after}s",
                    }
                ],
            )
