"""The read-through cache with caching off (no memcached): loads still shared per key."""

import asyncio
from collections.abc import Awaitable, Callable

from colonnade.runtime.cache import ReadThroughCache


def no_cache() -> ReadThroughCache[str]:
    return ReadThroughCache(None, namespace="t", encode=str.encode, decode=bytes.decode)


async def test_concurrent_reads_of_a_key_share_one_load_and_others_do_not() -> None:
    cache = no_cache()
    release = asyncio.Event()
    loads: list[str] = []

    def loader(key: str) -> Callable[[], Awaitable[str]]:
        async def load() -> str:
            loads.append(key)
            number = len(loads)
            await release.wait()
            return f"{key}={number}"

        return load

    readers = [asyncio.create_task(cache.get_or_load(k, loader(k))) for k in ("a", "a", "b")]
    await asyncio.sleep(0.01)
    release.set()
    assert await asyncio.wait_for(asyncio.gather(*readers), 5) == ["a=1", "a=1", "b=2"]
    assert loads == ["a", "b"] and cache.misses == 3 and not cache.hot
    assert await cache.get_or_load("a", loader("a")) == "a=3"  # nothing kept: loaded again


async def test_an_invalidation_detaches_later_reads_from_a_load_in_flight() -> None:
    cache = no_cache()
    release = asyncio.Event()
    versions = iter(["old", "new"])

    async def load() -> str:
        version = next(versions)
        await release.wait()
        return version

    before = asyncio.create_task(cache.get_or_load("a", load))
    await asyncio.sleep(0.01)
    await cache.invalidate("a")  # a write committed while the first read was loading
    after = asyncio.create_task(cache.get_or_load("a", load))
    await asyncio.sleep(0.01)
    release.set()
    assert list(await asyncio.wait_for(asyncio.gather(before, after), 5)) == ["old", "new"]
