"""A stand-in for an ElastiCache memcached configuration endpoint (Auto Discovery).

Real memcached has no ``config get cluster``; ElastiCache's configuration endpoint does. This
server speaks exactly that part of the ASCII protocol, optionally over TLS, so the cache's
Auto Discovery can be tested (and rehearsed) against a real socket:

* ``config get cluster`` → ``CONFIG cluster 0 <length>\\r\\n``, then ``<version>\\n``,
  ``<host|ip|port> <host|ip|port> …\\n``, ``\\r\\n`` and ``END\\r\\n`` (the length counts
  the version line and the node line, each ending in LF);
* ``version`` → ``VERSION …``; ``quit`` closes; anything else → ``ERROR`` (as memcached).

The node list can change while it runs: :meth:`ConfigurationEndpoint.set_nodes` in process,
or, from a script, ``--nodes-file`` (one ``host:port`` or ``host|ip|port`` per line or
comma-separated, re-read when it changes). Each change adds one to the configuration version,
as ElastiCache does when a node is added or removed.

Command line (prints ``listening on HOST:PORT`` once it accepts connections, runs until
SIGTERM or SIGINT)::

    python -m colonnade_tools.devstack.elasticache --listen 127.0.0.1:0 \\
        --nodes localhost:11211,localhost:11212 [--tls-cert CHAIN.pem --tls-key KEY.pem]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

#: What the stand-in says it is, to ``version``.
VERSION = b"1.6.22"


def parse_node(item: str) -> tuple[str, str, int]:
    """``host:port`` or ``host|ip|port`` → ``(hostname, ip, port)``.

    For ``host:port`` the IP is what ``host`` resolves to (IPv4), as ElastiCache announces
    both; it is left empty when the name does not resolve (clients then use the name).
    """
    text = item.strip()
    if "|" in text:
        hostname, ip, port = text.split("|")
        return hostname, ip, int(port)
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"a node is host:port or host|ip|port, got {item!r}")
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = ""
    return host, ip, int(port)


def parse_nodes(text: str) -> list[tuple[str, str, int]]:
    """Nodes separated by commas or newlines (blank entries and ``#`` comments skipped)."""
    items = [part for line in text.splitlines() for part in line.split("#")[0].split(",")]
    return [parse_node(item) for item in items if item.strip()]


class ConfigurationEndpoint:
    """An asyncio server answering ``config get cluster`` with the current node list."""

    def __init__(
        self,
        nodes: Sequence[str | tuple[str, str, int]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        version: int = 1,
        nodes_file: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.version = version
        self.requests = 0
        self._nodes = [parse_node(n) if isinstance(n, str) else n for n in nodes]
        self._nodes_file = nodes_file
        self._nodes_file_text: str | None = None
        self._ssl: ssl.SSLContext | None = None
        if tls_cert is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(str(tls_cert), str(tls_key) if tls_key else None)
        self._server: asyncio.Server | None = None

    @property
    def nodes(self) -> list[tuple[str, str, int]]:
        return list(self._nodes)

    def set_nodes(self, nodes: Sequence[str | tuple[str, str, int]]) -> None:
        """Announce ``nodes`` from now on, under the next configuration version."""
        self._nodes = [parse_node(n) if isinstance(n, str) else n for n in nodes]
        self.version += 1

    def _reload_nodes_file(self) -> None:
        if self._nodes_file is None:
            return
        try:
            text = self._nodes_file.read_text()
        except OSError:
            return  # keep announcing the last list, as a node holding it would
        if text != self._nodes_file_text:
            first = self._nodes_file_text is None
            self._nodes_file_text = text
            self._nodes = parse_nodes(text)
            if not first:
                self.version += 1

    def reply(self) -> bytes:
        """The exact bytes answering ``config get cluster``."""
        self._reload_nodes_file()
        entries = " ".join(f"{host}|{ip}|{port}" for host, ip, port in self._nodes)
        block = f"{self.version}\n{entries}\n".encode()
        return b"CONFIG cluster 0 %d\r\n%s\r\nEND\r\n" % (len(block), block)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                command = line.strip()
                if command == b"config get cluster":
                    self.requests += 1
                    writer.write(self.reply())
                elif command == b"version":
                    writer.write(b"VERSION " + VERSION + b"\r\n")
                elif command == b"quit":
                    break
                else:
                    writer.write(b"ERROR\r\n")
                await writer.drain()
        except (OSError, ssl.SSLError):
            pass  # a client that resets or fails its handshake is its own problem
        finally:
            writer.close()

    async def start(self) -> None:
        """Listen; ``port`` is the bound port afterwards (``0`` picks a free one)."""
        self._reload_nodes_file()
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The ``CACHE_URL`` that points at this endpoint (with ``CACHE_DISCOVERY=true``)."""
        return f"memcached://{self.address}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"want host:port, got {text!r}")
    return host, int(port)


async def _run(args: argparse.Namespace) -> None:
    host, port = args.listen
    endpoint = ConfigurationEndpoint(
        parse_nodes(args.nodes or ""),
        host=host,
        port=port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        version=args.config_version,
        nodes_file=args.nodes_file,
    )
    await endpoint.start()
    print(f"listening on {endpoint.address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await endpoint.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m colonnade_tools.devstack.elasticache",
        description="A stand-in ElastiCache configuration endpoint: answers `config get cluster`.",
    )
    parser.add_argument("--listen", type=_host_port, required=True, help="host:port (port 0: any)")
    parser.add_argument(
        "--nodes", help="the nodes to announce: host:port,host:port (or host|ip|port)"
    )
    parser.add_argument(
        "--nodes-file", type=Path, help="read the nodes from this file on each request"
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve TLS")
    parser.add_argument("--tls-key", type=Path, help="PEM private key (if not in --tls-cert)")
    parser.add_argument("--config-version", type=int, default=1, help="the first version (1)")
    args = parser.parse_args(argv)
    if not args.nodes and not args.nodes_file:
        parser.error("give --nodes or --nodes-file")
    if args.tls_key and not args.tls_cert:
        parser.error("--tls-key needs --tls-cert")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
