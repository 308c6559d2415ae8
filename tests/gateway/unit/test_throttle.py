"""The throttling decision and the per-replica fallback, with a controlled clock."""

from __future__ import annotations

import pytest

from colonnade.gateway.errors import ConfigError
from colonnade.gateway.throttle import FixedWindowLimiter, Limit, parse_rate_limits


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limits_parse_and_refuse_malformed_entries() -> None:
    assert parse_rate_limits(["read=50/1000", "write = 1/2"]) == {
        "read": Limit(50, 1000),
        "write": Limit(1, 2),
    }
    for bad in ("read", "read=5", "read=a/b", "read=0/10"):
        with pytest.raises(ConfigError, match="rate_limits"):
            parse_rate_limits([bad])


async def test_without_memcached_each_replica_enforces_its_share() -> None:
    clock = Clock(6000.2)  # 0.2 s into a second, 0.2 s into a minute
    limiter = FixedWindowLimiter(None, {"read": Limit(4, 6)}, replicas=2, clock=clock)
    # per second 4 / 2 = 2
    decisions = [await limiter.hit("read", "sub:a") for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    refused = decisions[-1]
    assert refused.retry_after == 1
    headers = dict(refused.headers)
    assert headers[b"ratelimit-remaining"] == b"0"
    assert headers[b"ratelimit-policy"] == b"2;w=1, 3;w=60"
    # Another caller has its own counters.
    assert (await limiter.hit("read", "sub:b")).allowed
    # The next second: the per-second window is fresh, the minute (3 / replica) nearly spent.
    clock.now += 1
    assert (await limiter.hit("read", "sub:a")).allowed is False  # 4th of the minute > 3
    assert (await limiter.hit("read", "sub:a")).retry_after == 59
    # The next minute: both fresh again.
    clock.now += 60
    assert (await limiter.hit("read", "sub:a")).allowed


async def test_the_remaining_header_follows_the_window_nearest_to_exhaustion() -> None:
    limiter = FixedWindowLimiter(None, {"w": Limit(100, 3)}, clock=Clock(120.5))
    first = dict((await limiter.hit("w", "ip:1")).headers)
    assert first[b"ratelimit-limit"] == b"3" and first[b"ratelimit-remaining"] == b"2"
    assert first[b"ratelimit-reset"] == b"60"
