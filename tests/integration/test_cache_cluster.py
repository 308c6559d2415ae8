"""The cache against real memcached nodes: TLS, several nodes, node loss, Auto Discovery.

Every server is real and on a free loopback port: Debian's memcached (with ``-Z`` for TLS),
the stand-in configuration endpoint (``colonnade_tools.devstack.elasticache``), certificates from
a throwaway CA (trustme).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.cache import ReadThroughCache
from colonnade.runtime.cachecluster import CacheCluster, CacheConfigurationError
from colonnade.runtime.cachediscovery import fetch_cluster_config
from colonnade.runtime.settings import Settings
from colonnade_tools.devstack.elasticache import ConfigurationEndpoint
from colonnade_tools.devstack.memcached import MemcachedServer
from colonnade_tools.devstack.ports import free_port
from colonnade_tools.localca import LocalCA, ServerCert
from tests.conftest import REPO_ROOT, StartCatalog
from tests.integration.helpers import memcached_get, memcached_stats, new_product

pytestmark = pytest.mark.integration


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def memcached_nodes() -> Iterator[Callable[..., MemcachedServer]]:
    """Start memcached nodes of the test's own (TLS with ``cert=``); all stopped at the end."""
    started: list[MemcachedServer] = []

    def start(cert: ServerCert | None = None, port: int | None = None) -> MemcachedServer:
        server = MemcachedServer(
            port or free_port(),
            tls_cert=cert.cert if cert else None,
            tls_key=cert.key if cert else None,
        )
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def node_cert(local_ca: LocalCA) -> ServerCert:
    return local_ca.issue("localhost", "127.0.0.1")


@pytest.fixture(scope="module")
def foreign_cert(other_ca: LocalCA) -> ServerCert:
    """Valid names, but signed by a CA the clients are not told to trust."""
    return other_ca.issue("localhost", "127.0.0.1")


def cache_settings(cache_url: str, **env: object) -> Settings:
    """Settings for a cache; a 2 s command timeout, so that a loaded test machine does not
    take a node down in the middle of a test that counts hits (outages here are refusals)."""
    values = {
        "CACHE_URL": cache_url,
        "CACHE_TIMEOUT": "2",
        **{k.upper(): str(v) for k, v in env.items()},
    }
    return Settings.from_env(values, service_name="cache-test")


def node_url(*servers: MemcachedServer) -> str:
    return "memcached://" + ",".join(f"{s.host}:{s.port}" for s in servers)


@pytest.fixture
async def clusters() -> AsyncIterator[Callable[..., Awaitable[CacheCluster]]]:
    """Build and start clusters from settings; all closed after the test."""
    made: list[CacheCluster] = []

    async def start(settings: Settings) -> CacheCluster:
        cluster = CacheCluster.from_settings(settings)
        assert cluster is not None
        await cluster.start()
        made.append(cluster)
        return cluster

    yield start
    for cluster in made:
        await cluster.close()


class Loader:
    """The "database" behind a cache in these tests: counts loads per key."""

    def __init__(self) -> None:
        self.loads: Counter[str] = Counter()
        self.version = "v1"

    def __call__(self, key: str) -> Callable[[], Awaitable[str]]:
        async def load() -> str:
            self.loads[key] += 1
            return f"{key}={self.version}"

        return load


def text_cache(cluster: CacheCluster | None, namespace: str) -> ReadThroughCache[str]:
    return ReadThroughCache(
        cluster, namespace=namespace, encode=str.encode, decode=bytes.decode, ttl=60
    )


async def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds}s: {what}")
        await asyncio.sleep(0.05)


def messages(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


# -- TLS ----------------------------------------------------------------------------------------


async def test_tls_round_trip_fill_hit_invalidate(
    memcached_nodes: Callable[..., MemcachedServer],
    node_cert: ServerCert,
    local_ca: LocalCA,
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    node = memcached_nodes(node_cert)
    cluster = await clusters(
        cache_settings(node.url, cache_tls="true", cache_tls_ca_file=local_ca.cert)
    )
    cache, loader = text_cache(cluster, "tls"), Loader()

    assert await cache.get_or_load("a", loader("a")) == "a=v1"  # miss → fill
    assert await memcached_get(node, b"tls:a", local_ca.client_context()) == b"a=v1"
    before = await memcached_stats(node, local_ca.client_context())
    assert await cache.get_or_load("a", loader("a")) == "a=v1"  # hit
    after = await memcached_stats(node, local_ca.client_context())
    assert int(after[b"get_hits"]) - int(before[b"get_hits"]) == 1
    assert loader.loads["a"] == 1 and cache.hits == 1

    loader.version = "v2"
    await cache.invalidate("a")  # a tombstone: the next read goes to the loader
    assert await cache.get_or_load("a", loader("a")) == "a=v2"
    assert loader.loads["a"] == 2
    assert not cluster.degraded


async def test_tls_with_the_wrong_ca_fails_start_up_naming_the_setting(
    memcached_nodes: Callable[..., MemcachedServer], foreign_cert: ServerCert, local_ca: LocalCA
) -> None:
    node = memcached_nodes(foreign_cert)
    cluster = CacheCluster.from_settings(
        cache_settings(node.url, cache_tls="true", cache_tls_ca_file=local_ca.cert)
    )
    assert cluster is not None
    with pytest.raises(CacheConfigurationError) as err:
        await cluster.start()
    message = str(err.value)
    assert "CACHE_TLS_CA_FILE" in message and "failed verification" in message
    assert str(local_ca.cert) in message


async def test_a_certificate_for_another_name_needs_cache_tls_server_name(
    memcached_nodes: Callable[..., MemcachedServer],
    local_ca: LocalCA,
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    node = memcached_nodes(local_ca.issue("cache.colonnade.test"))
    tls = {"cache_tls": "true", "cache_tls_ca_file": local_ca.cert}
    cluster = CacheCluster.from_settings(cache_settings(node.url, **tls))
    assert cluster is not None
    with pytest.raises(CacheConfigurationError, match="CACHE_TLS_SERVER_NAME"):
        await cluster.start()

    named = await clusters(
        cache_settings(node.url, **tls, cache_tls_server_name="cache.colonnade.test")
    )
    cache, loader = text_cache(named, "sni"), Loader()
    for _ in range(2):
        assert await cache.get_or_load("k", loader("k")) == "k=v1"
    assert loader.loads["k"] == 1 and cache.hits == 1


async def test_a_plaintext_client_against_a_tls_node_fails_start_up(
    memcached_nodes: Callable[..., MemcachedServer], node_cert: ServerCert
) -> None:
    """The exact AWS failure: in-transit encryption on, client in plaintext."""
    node = memcached_nodes(node_cert)
    cluster = CacheCluster.from_settings(cache_settings(node.url))
    assert cluster is not None
    started = time.monotonic()
    with pytest.raises(CacheConfigurationError, match=r"only speaks TLS.*set CACHE_TLS=true"):
        await cluster.start()
    assert time.monotonic() - started < 5


async def test_a_tls_client_against_a_plaintext_node_fails_start_up(
    memcached_nodes: Callable[..., MemcachedServer], local_ca: LocalCA
) -> None:
    node = memcached_nodes()
    cluster = CacheCluster.from_settings(
        cache_settings(node.url, cache_tls="true", cache_tls_ca_file=local_ca.cert)
    )
    assert cluster is not None
    with pytest.raises(CacheConfigurationError, match="answers plaintext memcached"):
        await cluster.start()


@pytest.mark.parametrize("case", ["wrong CA", "plaintext client"])
async def test_a_misconfiguration_met_later_is_an_error_log_not_a_silent_degrade(
    case: str,
    memcached_nodes: Callable[..., MemcachedServer],
    node_cert: ServerCert,
    foreign_cert: ServerCert,
    local_ca: LocalCA,
    clusters: Callable[..., Awaitable[CacheCluster]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The node is down at start-up (an outage: start-up goes on); when it comes up with a
    certificate the client cannot verify, or TLS-only for a plaintext client, that is an
    ERROR line naming the setting, and the keys keep coming from the loader."""
    port = free_port()
    if case == "wrong CA":
        env, cert, setting = (
            {"cache_tls": "true", "cache_tls_ca_file": local_ca.cert},
            foreign_cert,
            "CACHE_TLS_CA_FILE",
        )
    else:
        env, cert, setting = {}, node_cert, "CACHE_TLS=true"
    with caplog.at_level(logging.INFO, logger="colonnade.cache"):
        cluster = await clusters(cache_settings(f"memcached://127.0.0.1:{port}", **env))
        assert cluster.degraded
        assert len(messages(caplog, logging.WARNING, "cache degraded")) == 1

        memcached_nodes(cert, port=port)
        await asyncio.sleep(cluster.retry_after + 0.1)
        cache, loader = text_cache(cluster, "later"), Loader()
        for _ in range(3):
            assert await cache.get_or_load("k", loader("k")) == "k=v1"
        await wait_for(
            lambda: bool(messages(caplog, logging.ERROR, setting)), 5, f"an ERROR naming {setting}"
        )
    assert cluster.degraded and loader.loads["k"] == 3
    errors = messages(caplog, logging.ERROR, "cache misconfigured")
    assert len(errors) == 1, errors


# -- several nodes ------------------------------------------------------------------------------


async def test_keys_spread_over_three_nodes_and_a_dead_node_costs_only_its_keys(
    memcached_nodes: Callable[..., MemcachedServer],
    clusters: Callable[..., Awaitable[CacheCluster]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nodes = [memcached_nodes() for _ in range(3)]
    cluster = await clusters(cache_settings(node_url(*nodes)))
    cache, loader = text_cache(cluster, "spread"), Loader()
    keys = [f"p{i}" for i in range(300)]
    by_name = {f"{n.host}:{n.port}": n for n in nodes}
    owner = {key: by_name[str(cache.owner(key))] for key in keys}

    for key in keys:
        await cache.get_or_load(key, loader(key))
    for node in nodes:  # every node holds exactly the keys the ring gives it
        items = int((await memcached_stats(node))[b"curr_items"])
        mine = sum(1 for key in keys if owner[key] is node)
        assert items == mine and 0.2 < mine / len(keys) < 0.47, (items, mine)

    dead, alive = nodes[1], [nodes[0], nodes[2]]
    hits_before = {n.port: int((await memcached_stats(n))[b"get_hits"]) for n in alive}
    dead.kill()
    loads_before = loader.loads.copy()
    with caplog.at_level(logging.INFO, logger="colonnade.cache"):
        for key in keys:
            assert await cache.get_or_load(key, loader(key)) == f"{key}=v1"
        await wait_for(lambda: bool(messages(caplog, logging.WARNING, "cache degraded")), 5, "log")
    reloaded = {key for key in keys if loader.loads[key] > loads_before[key]}
    assert reloaded == {key for key in keys if owner[key] is dead}  # only the dead node's keys
    for node in alive:  # the others served every one of their keys from memcached
        hits = int((await memcached_stats(node))[b"get_hits"]) - hits_before[node.port]
        assert hits == sum(1 for key in keys if owner[key] is node)
    down = messages(caplog, logging.WARNING, "cache degraded")
    assert len(down) == 1 and f"{dead.host}:{dead.port}" in down[0]
    assert cluster.degraded

    # It comes back (empty, on the same port): used again, one line saying so.
    caplog.clear()
    memcached_nodes(port=dead.port)
    await asyncio.sleep(cluster.retry_after + 0.1)
    with caplog.at_level(logging.INFO, logger="colonnade.cache"):
        for _ in range(2):
            for key in keys:
                await cache.get_or_load(key, loader(key))
    assert not cluster.degraded
    assert len(messages(caplog, logging.WARNING, "cache recovered")) == 1
    # each of its keys was loaded once more (the refill), then hit
    assert all(loader.loads[key] == loads_before[key] + 2 for key in keys if owner[key] is dead)
    assert all(loader.loads[key] == 1 for key in keys if owner[key] is not dead)


@pytest.mark.timeout(30)
async def test_a_node_that_closes_without_replying_cannot_freeze_the_event_loop(
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    """aiomcache 0.8.2 spins forever on a reply cut off by EOF; the cache's client does not."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line.startswith(b"version"):
            writer.write(b"VERSION 1.6.18\r\n")  # pass the start-up check, then misbehave
            await writer.drain()
            await reader.readline()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        cluster = await clusters(cache_settings(f"memcached://127.0.0.1:{port}"))
        cache = text_cache(cluster, "eof")
        await cache.invalidate("k")  # a `set` whose reply never comes
        assert cluster.degraded
    finally:
        server.close()


@pytest.mark.timeout(30)
async def test_a_cancelled_command_never_leaves_its_reply_to_the_next_one(
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    """A get cancelled while its reply is on the way (the caller's deadline ended) must not
    return its connection to the pool: the next get there would read that reply as its own."""
    connections: list[asyncio.StreamWriter] = []

    async def slow_for_k(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while line := await reader.readline():
            if line.startswith(b"version"):
                writer.write(b"VERSION 1.6.18\r\n")
            elif line.startswith(b"get "):
                key = line.split()[1]
                if key.endswith(b"k"):
                    await asyncio.sleep(0.3)  # the caller gives up before this reply
                value = b"value-of-" + key
                writer.write(b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow_for_k, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        # one connection in the pool: without the fix the second get would reuse the first's
        cluster = await clusters(cache_settings(f"memcached://127.0.0.1:{port}", cache_pool_size=1))
        cache = text_cache(cluster, "cancel")
        loader = Loader()
        first = asyncio.create_task(cache.get_or_load("k", loader("k")))
        await asyncio.sleep(0.1)  # its `get` is sent, the reply is 0.2 s away
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await asyncio.sleep(0.4)  # the late reply arrives (on a connection nobody reads now)
        key_j = cache._key("j").decode()
        assert await cache.get_or_load("j", loader("j")) == f"value-of-{key_j}"
        assert loader.loads["j"] == 0  # a hit: the answer to its own get, not to k's
        assert not cluster.degraded
        assert len(connections) >= 2, "the cancelled command's connection was reused"
    finally:
        server.close()


@pytest.mark.timeout(30)
async def test_concurrent_commands_use_up_to_the_pool_size_in_connections(
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    """Eight gets at once on a pool of eight: eight connections, each get answered within the
    timeout. (aiomcache's own pool stayed at one connection and queued the others behind it.)"""
    connections = 0

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while line := await reader.readline():
            if line.startswith(b"version"):
                writer.write(b"VERSION 1.6.18\r\n")
            elif line.startswith(b"get "):
                await asyncio.sleep(0.3)
                writer.write(b"VALUE %s 0 2\r\nok\r\nEND\r\n" % line.split()[1])
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        cluster = await clusters(
            cache_settings(f"memcached://127.0.0.1:{port}", cache_timeout=1.0, cache_pool_size=8)
        )
        cache = text_cache(cluster, "pool")
        loader = Loader()
        keys = [f"k{i}" for i in range(8)]
        values = await asyncio.gather(*(cache.get_or_load(k, loader(k)) for k in keys))
        assert values == ["ok"] * 8, values  # one after another, most would have timed out
        assert not loader.loads, "a get timed out and fell back to the loader"
        assert connections == 8  # the pool's eight (the start-up check opened the first)
        assert not cluster.degraded
    finally:
        server.close()


@pytest.mark.timeout(30)
async def test_calls_in_flight_when_a_node_goes_down_do_not_bring_it_back(
    clusters: Callable[..., Awaitable[CacheCluster]], caplog: pytest.LogCaptureFixture
) -> None:
    """One timeout marks the node down; a call sent before that and answered after it says
    nothing about the node now (under load the two alternated every few milliseconds, each
    flip logged). The node comes back only when a call made after the outage succeeds."""
    delays = {b"slow": 3.0, b"late": 0.7}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line.startswith(b"version"):
                writer.write(b"VERSION 1.6.18\r\n")
            elif line.startswith(b"get "):
                key = line.split()[1]
                await asyncio.sleep(next((d for k, d in delays.items() if key.endswith(k)), 0))
                writer.write(b"VALUE %s 0 2\r\nok\r\nEND\r\n" % key)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        cluster = await clusters(cache_settings(f"memcached://127.0.0.1:{port}", cache_timeout=1.0))
        cluster.retry_after = 0.5
        cache = text_cache(cluster, "flap")
        loader = Loader()
        caplog.set_level(logging.WARNING, logger="colonnade.cache")
        slow = asyncio.create_task(cache.get_or_load("slow", loader("slow")))  # times out at 1.0
        await asyncio.sleep(0.5)
        late = asyncio.create_task(cache.get_or_load("late", loader("late")))  # answers at 1.2
        await slow
        assert cluster.degraded
        await late
        assert cluster.degraded, "a call sent before the outage brought the node back"
        assert not messages(caplog, logging.WARNING, "cache recovered")
        await asyncio.sleep(0.6)  # retry_after: the next call tries the node again
        assert await cache.get_or_load("fresh", loader("fresh")) == "ok"
        assert not cluster.degraded
        # the outage is logged once its cause is told apart (a probe in the background)
        await wait_for(
            lambda: bool(messages(caplog, logging.WARNING, "cache degraded")), 5, "the outage log"
        )
        assert len(messages(caplog, logging.WARNING, "cache degraded")) == 1
        assert len(messages(caplog, logging.WARNING, "cache recovered")) == 1
    finally:
        server.close()


# -- Auto Discovery -----------------------------------------------------------------------------


@pytest.fixture
async def endpoints() -> AsyncIterator[Callable[..., Awaitable[ConfigurationEndpoint]]]:
    made: list[ConfigurationEndpoint] = []

    async def start(nodes: list[MemcachedServer], **options: object) -> ConfigurationEndpoint:
        endpoint = ConfigurationEndpoint(
            [f"localhost:{n.port}" for n in nodes],
            **options,  # type: ignore[arg-type]  # tls_cert=…, tls_key=…
        )
        await endpoint.start()
        made.append(endpoint)
        return endpoint

    yield start
    for endpoint in made:
        await endpoint.close()


async def test_discovery_follows_the_configuration_endpoint(
    memcached_nodes: Callable[..., MemcachedServer],
    endpoints: Callable[..., Awaitable[ConfigurationEndpoint]],
    clusters: Callable[..., Awaitable[CacheCluster]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    nodes = [memcached_nodes() for _ in range(3)]
    endpoint = await endpoints(nodes[:2])
    cluster = await clusters(
        cache_settings(endpoint.url, cache_discovery="true", cache_discovery_interval="0.5")
    )
    names = {f"localhost:{n.port}" for n in nodes}
    assert set(cluster.nodes) == {f"localhost:{n.port}" for n in nodes[:2]}
    assert all(node.address.host == "127.0.0.1" for node in cluster.nodes.values())  # the IP

    endpoint.set_nodes([f"localhost:{n.port}" for n in nodes])  # a node added: version 2
    await wait_for(lambda: set(cluster.nodes) == names, 5, "the third node in use")
    cache, loader = text_cache(cluster, "disc"), Loader()
    keys = [f"p{i}" for i in range(60)]
    for key in keys:
        await cache.get_or_load(key, loader(key))
    for node in nodes:
        assert int((await memcached_stats(node))[b"curr_items"]) > 0

    # The endpoint goes away: the last list stays in use, one line says so.
    with caplog.at_level(logging.INFO, logger="colonnade.cache"):
        await endpoint.close()
        await wait_for(
            lambda: bool(messages(caplog, logging.WARNING, "cache discovery failed")), 5, "log"
        )
        await asyncio.sleep(1.5)  # more refreshes fail quietly
        assert set(cluster.nodes) == names
        for key in keys:
            assert await cache.get_or_load(key, loader(key)) == f"{key}=v1"
        assert all(count == 1 for count in loader.loads.values())  # all hits
        assert len(messages(caplog, logging.WARNING, "cache discovery failed")) == 1

        revived = ConfigurationEndpoint(
            [f"localhost:{n.port}" for n in nodes[1:]], port=endpoint.port, version=3
        )
        await revived.start()
        try:
            await wait_for(lambda: len(cluster.nodes) == 2, 5, "the shrunk list")
        finally:
            await revived.close()
    assert messages(caplog, logging.WARNING, "cache discovery recovered")


async def test_discovery_against_plain_memcached_fails_start_up(
    memcached_nodes: Callable[..., MemcachedServer],
) -> None:
    node = memcached_nodes()
    cluster = CacheCluster.from_settings(cache_settings(node.url, cache_discovery="true"))
    assert cluster is not None
    with pytest.raises(CacheConfigurationError, match="not an ElastiCache configuration endpoint"):
        await cluster.start()


async def test_discovery_with_the_endpoint_down_at_start_up_waits_for_it(
    memcached_nodes: Callable[..., MemcachedServer],
    clusters: Callable[..., Awaitable[CacheCluster]],
) -> None:
    node = memcached_nodes()
    port = free_port()
    cluster = await clusters(
        cache_settings(f"memcached://127.0.0.1:{port}", cache_discovery="true")
    )
    assert cluster.degraded and not cluster.nodes
    cache, loader = text_cache(cluster, "late"), Loader()
    assert await cache.get_or_load("k", loader("k")) == "k=v1"  # served by the loader

    endpoint = ConfigurationEndpoint([f"localhost:{node.port}"], port=port)
    await endpoint.start()
    try:
        await wait_for(lambda: bool(cluster.nodes), 5, "the first node list")
    finally:
        await endpoint.close()
    for _ in range(2):
        await cache.get_or_load("k", loader("k"))
    assert loader.loads["k"] == 2 and cache.hits == 1


async def test_the_catalog_over_tls_nodes_found_by_discovery(
    memcached_nodes: Callable[..., MemcachedServer],
    endpoints: Callable[..., Awaitable[ConfigurationEndpoint]],
    start_catalog: StartCatalog,
    node_cert: ServerCert,
    local_ca: LocalCA,
    unique: str,
) -> None:
    """As in AWS: CACHE_URL is the configuration endpoint, TLS everywhere, three nodes."""
    nodes = [memcached_nodes(node_cert) for _ in range(3)]
    endpoint = await endpoints(nodes, tls_cert=node_cert.cert, tls_key=node_cert.key)
    _, target = await start_catalog(
        cache_url=endpoint.url,
        cache_tls="true",
        cache_tls_ca_file=local_ca.cert,
        cache_discovery="true",
        cache_timeout="2",
    )
    tls = local_ca.client_context()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"d-{unique}")
        )
        for _ in range(2):
            await stub.GetProduct(catalog_pb2.GetProductRequest(name=created.name))
        key = f"catalog:v1:product:d-{unique}".encode()
        holders = [n for n in nodes if await memcached_get(n, key, tls) is not None]
        assert len(holders) == 1  # on exactly one node, over TLS
        assert int((await memcached_stats(holders[0], tls))[b"get_hits"]) >= 1


# -- the stand-in from a script -----------------------------------------------------------------


async def test_the_configuration_endpoint_stand_in_runs_from_the_command_line(
    tmp_path: Path, node_cert: ServerCert, local_ca: LocalCA
) -> None:
    nodes_file = tmp_path / "nodes"
    nodes_file.write_text("localhost:11211\nlocalhost:11212\n")
    process = subprocess.Popen(  # noqa: ASYNC220  # a real child process, stopped below
        [
            sys.executable,
            "-m",
            "colonnade_tools.devstack.elasticache",
            "--listen",
            "127.0.0.1:0",
            "--nodes-file",
            str(nodes_file),
            "--tls-cert",
            str(node_cert.cert),
            "--tls-key",
            str(node_cert.key),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 30)
        assert line.startswith("listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        tls = {"ssl": local_ca.client_context(), "server_hostname": "localhost"}
        first = await asyncio.wait_for(fetch_cluster_config("127.0.0.1", port, tls), 5)
        assert first.version == 1
        assert [(n.hostname, n.ip, n.port) for n in first.nodes] == [
            ("localhost", "127.0.0.1", 11211),
            ("localhost", "127.0.0.1", 11212),
        ]
        nodes_file.write_text("localhost:11211,localhost:11212,localhost:11213")
        second = await asyncio.wait_for(fetch_cluster_config("127.0.0.1", port, tls), 5)
        assert second.version == 2 and len(second.nodes) == 3
    finally:
        process.terminate()
        if process.stdout is not None:
            process.stdout.close()
        assert await asyncio.to_thread(process.wait, 10) == 0


# -- hot entries in process (CACHE_LOCAL_TTL) ---------------------------------------------------


def hot_cache(
    cluster: CacheCluster | None, namespace: str, local_ttl: float, entries: int = 100
) -> ReadThroughCache[str]:
    return ReadThroughCache(
        cluster,
        namespace=namespace,
        encode=str.encode,
        decode=bytes.decode,
        ttl=60,
        local_ttl=local_ttl,
        local_entries=entries,
    )


async def test_hot_entries_hide_other_processes_writes_for_at_most_their_ttl(
    memcached: MemcachedServer, clusters: Callable[..., Awaitable[CacheCluster]], unique: str
) -> None:
    cluster = await clusters(cache_settings(memcached.url))
    here = hot_cache(cluster, f"hot-{unique}", local_ttl=0.5)
    elsewhere = text_cache(await clusters(cache_settings(memcached.url)), f"hot-{unique}")
    loader = Loader()
    assert await here.get_or_load("a", loader("a")) == "a=v1"
    # Another process writes: its tombstone is in memcached, but this one still answers from
    # memory, without asking memcached (which would send it to the loader).
    loader.version = "v2"
    await elsewhere.invalidate("a")
    assert await here.get_or_load("a", loader("a")) == "a=v1"
    assert (loader.loads["a"], here.local_hits) == (1, 1)
    # The bound: once the entry is older than local_ttl, the write shows.
    await asyncio.sleep(0.6)
    assert await here.get_or_load("a", loader("a")) == "a=v2"
    assert loader.loads["a"] == 2


async def test_a_local_write_drops_the_hot_entry_at_once(
    memcached: MemcachedServer, clusters: Callable[..., Awaitable[CacheCluster]], unique: str
) -> None:
    cache = hot_cache(await clusters(cache_settings(memcached.url)), f"hot-{unique}", 30)
    loader = Loader()
    assert await cache.get_or_load("a", loader("a")) == "a=v1"
    assert await cache.get_or_load("a", loader("a")) == "a=v1"
    assert cache.local_hits == 1
    loader.version = "v2"
    await cache.invalidate("a")
    assert await cache.get_or_load("a", loader("a")) == "a=v2"
    assert (loader.loads["a"], cache.local_hits) == (2, 1)


async def test_a_read_that_began_before_a_local_write_is_not_kept(
    memcached: MemcachedServer, clusters: Callable[..., Awaitable[CacheCluster]], unique: str
) -> None:
    cache = hot_cache(await clusters(cache_settings(memcached.url)), f"hot-{unique}", 30)
    release = asyncio.Event()

    async def slow_old_row() -> str:
        await release.wait()
        return "a=old"

    reading = asyncio.create_task(cache.get_or_load("a", slow_old_row))
    await asyncio.sleep(0.05)  # the read is loading
    await cache.invalidate("a")  # the write committed meanwhile
    release.set()
    assert await reading == "a=old"  # its caller asked before the write: fine
    loader = Loader()
    loader.version = "new"
    assert await cache.get_or_load("a", loader("a")) == "a=new"
    assert cache.local_hits == 0


async def test_hot_entries_are_bounded_and_off_without_memcached(
    memcached: MemcachedServer, clusters: Callable[..., Awaitable[CacheCluster]], unique: str
) -> None:
    cache = hot_cache(await clusters(cache_settings(memcached.url)), f"hot-{unique}", 30, 2)
    loader = Loader()
    for key in ("a", "b", "c"):
        await cache.get_or_load(key, loader(key))
    await cache.get_or_load("c", loader("c"))
    assert cache.local_hits == 1
    await cache.get_or_load("a", loader("a"))  # the oldest went: from memcached this time
    assert (cache.local_hits, loader.loads["a"]) == (1, 1)
    no_cache = hot_cache(None, f"hot-{unique}", 30)
    await no_cache.get_or_load("a", loader("a"))
    await no_cache.get_or_load("a", loader("a"))
    assert (no_cache.local_hits, loader.loads["a"]) == (0, 3)
    assert cache.hot and not no_cache.hot  # the catalog memoises protos only when hot


async def test_the_catalog_with_hot_entries_shows_its_own_writes_at_once(
    start_catalog: StartCatalog, unique: str
) -> None:
    _, target = await start_catalog(cache_local_ttl=30)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        created = await stub.CreateProduct(
            catalog_pb2.CreateProductRequest(product=new_product(unique), product_id=f"h-{unique}")
        )
        get = catalog_pb2.GetProductRequest(name=created.name)
        assert (await stub.GetProduct(get)).title == created.title
        assert (await stub.GetProduct(get)).title == created.title  # from memory
        changed = catalog_pb2.Product(name=created.name, title="Renamed")
        await stub.UpdateProduct(
            catalog_pb2.UpdateProductRequest(
                product=changed, update_mask=field_mask_pb2.FieldMask(paths=["title"])
            )
        )
        assert (await stub.GetProduct(get)).title == "Renamed"
        await stub.DeleteProduct(catalog_pb2.DeleteProductRequest(name=created.name))
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetProduct(get)
        assert err.value.code() is grpc.StatusCode.NOT_FOUND
