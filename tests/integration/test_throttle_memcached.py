"""Fixed-window counting in a real memcached by two limiters (two replicas' worth):
batched and leased counts never admit more than the limit, and waste little."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.edge import EdgePolicies, policy_cache
from colonnade.gateway.errors import ConfigError
from colonnade.gateway.throttle import Decision, FixedWindowLimiter, Limit
from colonnade.runtime.cachecluster import CacheCluster, NodeAddress
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.localca import LocalCA

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def cluster(memcached: MemcachedServer) -> CacheCluster:
    host, port = "127.0.0.1", int(memcached.url.rsplit(":", 1)[1])
    return CacheCluster([NodeAddress(f"{host}:{port}", host, port, host)], timeout=2.0)


async def test_leased_counts_never_exceed_the_limit(memcached: MemcachedServer) -> None:
    clock = Clock(1_000_019.5)  # the last second of a minute
    limits = {"read": Limit(10_000, 1_000)}  # the minute window decides
    a, b = cluster(memcached), cluster(memcached)
    await a.start()
    await b.start()
    try:
        one = FixedWindowLimiter(a, limits, replicas=2, clock=clock)
        two = FixedWindowLimiter(b, limits, replicas=2, clock=clock)
        who = f"sub:{uuid.uuid4().hex}"
        # A busy previous second: both replicas now take counts ahead (leases).
        await asyncio.gather(*(lim.hit("read", who) for lim in (one, two) for _ in range(400)))
        clock.now += 1  # the next second, the first of the next minute
        decisions: list[Decision] = []
        for _ in range(600):  # a steady stream, interleaved between the replicas
            decisions += await asyncio.gather(one.hit("read", who), two.hit("read", who))
        admitted = sum(d.allowed for d in decisions)
        # Every admitted request holds a distinct count <= 1000 across both replicas; counts
        # leased but unused are lost, bounded by each replica's lease (<= 1000 / 8).
        assert 1_000 - 2 * 125 <= admitted <= 1_000
        assert one._leases or two._leases  # counts were taken ahead
        assert not one.local_mode and not two.local_mode
    finally:
        await a.close()
        await b.close()


async def test_a_quiet_caller_is_counted_exactly(memcached: MemcachedServer) -> None:
    clock = Clock(2_000_040.5)
    c = cluster(memcached)
    await c.start()
    try:
        limiter = FixedWindowLimiter(c, {"write": Limit(3, 100)}, clock=clock)
        who = f"key:{uuid.uuid4().hex}"
        results = [(await limiter.hit("write", who)).allowed for _ in range(5)]
        assert results == [True, True, True, False, False]
        assert not limiter._leases  # nothing taken ahead for a caller without history
    finally:
        await c.close()


async def test_the_policy_cache_speaks_tls_to_elasticache_like_nodes(
    local_ca: LocalCA, unique: str
) -> None:
    """`policy_cache_tls` (+ CA file): the counters live in a TLS-only memcached, as with
    ElastiCache in-transit encryption; plaintext against it stops start-up (exit code 2)."""
    cert = local_ca.issue("localhost", "127.0.0.1")
    node = MemcachedServer(free_port(), tls_cert=cert.cert, tls_key=cert.key)
    node.start()
    try:
        base: dict[str, Any] = {
            "descriptors": ["unused"],
            "backends": ["x=127.0.0.1:1"],
            "policy_cache_url": f"memcached://127.0.0.1:{node.port}",
            "policy_cache_timeout": 2.0,
        }
        tls = GatewayConfig(
            **base, policy_cache_tls=True, policy_cache_tls_ca_file=str(local_ca.cert)
        )
        edge = EdgePolicies(cluster=policy_cache(tls))
        await edge.start()
        try:
            assert edge.cluster is not None
            limiter = FixedWindowLimiter(edge.cluster, {"w": Limit(2, 100)}, clock=Clock(3e6))
            allowed = [(await limiter.hit("w", f"sub:{unique}")).allowed for _ in range(3)]
            assert allowed == [True, True, False] and not limiter.local_mode
        finally:
            await edge.close()
        plain = EdgePolicies(cluster=policy_cache(GatewayConfig(**base)))
        with pytest.raises(ConfigError, match="policy_cache_"):
            await plain.start()
        await plain.close()
    finally:
        node.stop()
