"""Parsing ElastiCache's `config get cluster` reply (bytes in, no network)."""

import asyncio

import pytest

from colonnade.runtime.cachediscovery import (
    DiscoveredNode,
    DiscoveryProtocolError,
    NotAConfigurationEndpoint,
    read_cluster_config,
)

# The shape AWS documents: a version line and a node line, each ending in LF, CR LF, END.
AWS_EXAMPLE = (
    b"12\n"
    b"myCluster.pc4ldq.0001.use1.cache.amazonaws.com|10.82.235.120|11211 "
    b"myCluster.pc4ldq.0002.use1.cache.amazonaws.com|10.80.249.27|11211\n"
)


def reader_of(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_reads_the_documented_reply() -> None:
    reply = b"CONFIG cluster 0 %d\r\n%s\r\nEND\r\n" % (len(AWS_EXAMPLE), AWS_EXAMPLE)
    config = await read_cluster_config(reader_of(reply))
    assert config.version == 12
    assert config.nodes == (
        DiscoveredNode("myCluster.pc4ldq.0001.use1.cache.amazonaws.com", "10.82.235.120", 11211),
        DiscoveredNode("myCluster.pc4ldq.0002.use1.cache.amazonaws.com", "10.80.249.27", 11211),
    )
    first = config.nodes[0]
    assert first.name == "myCluster.pc4ldq.0001.use1.cache.amazonaws.com:11211"
    assert first.connect_host == "10.82.235.120"


async def test_an_empty_ip_means_connect_by_name() -> None:
    block = b"3\nnode-a.example||11211\n"
    config = await read_cluster_config(
        reader_of(b"CONFIG cluster 0 %d\r\n%s\r\nEND\r\n" % (len(block), block))
    )
    assert config.nodes[0].connect_host == "node-a.example"


async def test_plain_memcached_answers_error() -> None:
    with pytest.raises(NotAConfigurationEndpoint, match="ERROR"):
        await read_cluster_config(reader_of(b"ERROR\r\n"))


@pytest.mark.parametrize(
    "reply",
    [
        b"VALUE x 0 1\r\n",
        b"CONFIG cluster 0 8\r\nnotanum\n\r\nEND\r\n",
        b"CONFIG cluster 0 16\r\n1\nhost|1.2.3.4|x\n\r\nEND\r\n",
        b"CONFIG cluster 0 2\r\n1\n\r\nEND\r\n",
    ],
)
async def test_malformed_replies_are_protocol_errors(reply: bytes) -> None:
    with pytest.raises(DiscoveryProtocolError):
        await read_cluster_config(reader_of(reply))


async def test_a_reply_cut_short_is_a_connection_error() -> None:
    with pytest.raises(ConnectionResetError):
        await read_cluster_config(reader_of(b"CONFIG cluster 0 40\r\n1\nhost|"))
    with pytest.raises(ConnectionResetError):
        await read_cluster_config(reader_of(b""))
