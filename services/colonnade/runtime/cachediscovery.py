"""ElastiCache Auto Discovery: the node list of a memcached cluster from its configuration endpoint.

An ElastiCache memcached cluster has a configuration endpoint (``….cfg.….cache.amazonaws.com``)
that answers the ASCII command ``config get cluster`` (engine 1.4.14 and later) with::

    CONFIG cluster 0 <length>\\r\\n
    <version>\\n
    <hostname>|<ip>|<port> <hostname>|<ip>|<port> …\\n
    \\r\\n
    END\\r\\n

``<length>`` counts the two data lines (each ends with a bare LF); CR LF follows the block,
then ``END``. The version grows by one whenever a node is added or removed. The IP field may
be empty, in which case the host name is used. Plain memcached does not know the command and
answers ``ERROR``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The command, as AWS documents it for the ASCII protocol.
CONFIG_GET_CLUSTER = b"config get cluster\r\n"


class DiscoveryProtocolError(Exception):
    """The configuration endpoint's reply is not the documented format."""


class NotAConfigurationEndpoint(DiscoveryProtocolError):
    """The server answered like plain memcached (``ERROR``): it has no ``config`` command."""


@dataclass(frozen=True, slots=True)
class DiscoveredNode:
    """One node as the configuration endpoint announces it."""

    hostname: str
    ip: str
    port: int

    @property
    def name(self) -> str:
        """The node's identity on the hash ring: ``hostname:port`` (stable across IP changes)."""
        return f"{self.hostname or self.ip}:{self.port}"

    @property
    def connect_host(self) -> str:
        """Where to connect: the announced IP (no DNS lookup), else the host name."""
        return self.ip or self.hostname


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A configuration version and the nodes it lists."""

    version: int
    nodes: tuple[DiscoveredNode, ...]


def parse_cluster_config(block: bytes) -> ClusterConfig:
    """The data block of a ``CONFIG cluster`` reply → :class:`ClusterConfig`."""
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError:
        raise DiscoveryProtocolError(f"non-ASCII cluster configuration: {block[:80]!r}") from None
    lines = [line.strip() for line in text.replace("\r", "").split("\n") if line.strip()]
    if len(lines) != 2:
        raise DiscoveryProtocolError(f"expected a version line and a node line, got {text!r}")
    try:
        version = int(lines[0])
    except ValueError:
        raise DiscoveryProtocolError(f"bad configuration version {lines[0]!r}") from None
    nodes: list[DiscoveredNode] = []
    for item in lines[1].split():
        fields = item.split("|")
        if len(fields) != 3 or not (fields[0] or fields[1]) or not fields[2].isdigit():
            raise DiscoveryProtocolError(f"bad node entry {item!r} (want hostname|ip|port)")
        port = int(fields[2])
        if not 0 < port < 65536:
            raise DiscoveryProtocolError(f"bad port in node entry {item!r}")
        nodes.append(DiscoveredNode(fields[0], fields[1], port))
    if not nodes:
        raise DiscoveryProtocolError("the cluster configuration lists no nodes")
    return ClusterConfig(version, tuple(nodes))


async def read_cluster_config(reader: asyncio.StreamReader) -> ClusterConfig:
    """Read one reply to ``config get cluster`` from ``reader``."""
    header = await reader.readline()
    if not header.endswith(b"\n"):
        raise ConnectionResetError(
            "the configuration endpoint closed the connection without a reply"
        )
    words = header.split()
    if words[:1] in ([b"ERROR"], [b"CLIENT_ERROR"]):
        raise NotAConfigurationEndpoint(header.decode("ascii", "replace").strip())
    if len(words) != 4 or words[:2] != [b"CONFIG", b"cluster"] or not words[3].isdigit():
        raise DiscoveryProtocolError(f"unexpected reply {header[:80]!r}")
    try:
        block = await reader.readexactly(int(words[3]))
        await reader.readuntil(b"END\r\n")
    except asyncio.IncompleteReadError as exc:
        raise ConnectionResetError(
            "the configuration endpoint closed the connection mid-reply"
        ) from exc
    return parse_cluster_config(block)


async def fetch_cluster_config(
    host: str, port: int, conn_args: Mapping[str, Any] | None = None
) -> ClusterConfig:
    """Ask the configuration endpoint ``host:port`` for the cluster's nodes.

    ``conn_args`` go to :func:`asyncio.open_connection` (``ssl``, ``server_hostname``), so the
    endpoint is reached with the same TLS settings as the nodes. Callers bound the time
    (``asyncio.timeout``).
    """
    reader, writer = await asyncio.open_connection(host, port, **(conn_args or {}))
    try:
        writer.write(CONFIG_GET_CLUSTER)
        await writer.drain()
        return await read_cluster_config(reader)
    finally:
        writer.close()
        with contextlib.suppress(Exception):  # a peer that resets while closing is no news
            await writer.wait_closed()
