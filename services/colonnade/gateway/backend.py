"""gRPC backends: which address serves which service, and warm connections to each address.

A backend running several processes behind SO_REUSEPORT balances connections, not calls, so
the gateway keeps several HTTP/2 connections per address and spreads calls over them
round-robin. Calls go out as bytes through the configured gRPC client (rpc.py: the own
`grpcwire` by default, grpc.aio with `grpc_client = "grpcio"`): the gateway serializes the
request itself and deserializes responses with the message class of its own descriptor pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from grpc_health.v1 import health_pb2

from colonnade.gateway.balancer import Balanced, split_addresses
from colonnade.gateway.errors import BackendConfigError, RpcError
from colonnade.gateway.grpcwire.target import parse_target
from colonnade.gateway.routing import Route
from colonnade.gateway.rpc import NATIVE, Channel, open_channel
from colonnade.gateway.status import Code

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
__all__ = ["BackendConfigError", "BackendMap", "Backends", "ChannelPool"]


@dataclass(frozen=True)
class BackendMap:
    """Maps a service to an address: exact service name, then longest package prefix, then `*`."""

    entries: dict[str, str]

    @classmethod
    def parse(cls, specs: Iterable[str]) -> BackendMap:
        """From `name=host:port` strings (name: a service, a package, or `*`); the target
        may name several addresses (`name=ipv4:h:1,h:2`, balancer.py)."""
        entries: dict[str, str] = {}
        for spec in _rejoin(specs):
            name, sep, target = spec.partition("=")
            name, target = name.strip(), target.strip()
            if not sep or not name or not target:
                raise BackendConfigError(
                    f"backend {spec!r}: expected SERVICE=HOST:PORT, e.g. "
                    "'colonnade.catalog.v1.CatalogService=127.0.0.1:50051'"
                )
            for address in split_addresses(target):
                parse_target(address)  # BackendConfigError naming the target
            entries[name] = target
        return cls(entries)

    def target(self, service: str) -> str | None:
        """The address serving a fully qualified service name, or None."""
        if service in self.entries:
            return self.entries[service]
        parts = service.split(".")
        for i in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:i])
            if prefix in self.entries:
                return self.entries[prefix]
        return self.entries.get("*")


def _rejoin(specs: Iterable[str]) -> list[str]:
    """Specs as written: a comma-separated list (COLONNADE_GATEWAY_BACKENDS) splits a
    target naming several addresses (``svc=a:1,b:2``); a piece without ``=`` is the
    previous spec's next address."""
    out: list[str] = []
    for spec in specs:
        if out and "=" not in spec and spec.strip():
            out[-1] += "," + spec.strip()
        else:
            out.append(spec)
    return out


class ChannelPool:
    """The connections to one address (an rpc.Channel of the chosen client), and its health."""

    def __init__(self, target: str, size: int, max_message: int, client: str = NATIVE) -> None:
        self.target = target
        addresses = split_addresses(target)
        self.channel: Channel
        if len(addresses) == 1:
            self.channel = open_channel(client, target, size=size, max_message=max_message)
        else:
            channels = [
                open_channel(client, a, size=size, max_message=max_message) for a in addresses
            ]
            for channel in channels:
                if hasattr(channel, "max_backoff"):
                    channel.max_backoff = 1.0  # probed by the balancer's health checks
            self.channel = Balanced(target, channels)

    def connect(self) -> None:
        """Starts connecting now, so the first requests find the connections warm."""
        self.channel.connect()

    async def health(self, service: str, wait: float) -> str:
        """grpc.health.v1 status name of `service` on this address ("UNREACHABLE" on error)."""
        for name in (service, ""):
            request = health_pb2.HealthCheckRequest(service=name).SerializeToString()
            try:
                resp = await self.channel.unary(HEALTH_CHECK, request, (), wait)
            except RpcError as exc:
                if exc.code == Code.NOT_FOUND and name:
                    continue  # the server tracks only the overall status
                return "UNIMPLEMENTED" if exc.code == Code.UNIMPLEMENTED else "UNREACHABLE"
            status = health_pb2.HealthCheckResponse.FromString(resp.message).status
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
        return "UNKNOWN"  # pragma: no cover

    async def close(self) -> None:
        """Closes every connection."""
        await self.channel.close()


class Backends:
    """The channel pools of every address the routes need."""

    def __init__(
        self, backend_map: BackendMap, *, channels: int, max_message: int, client: str = NATIVE
    ) -> None:
        self.map = backend_map
        self.channels = channels
        self.max_message = max_message
        self.client = client
        self.pools: dict[str, ChannelPool] = {}
        self.services: dict[str, str] = {}  # service -> target

    def check_routes(self, routes: Iterable[Route]) -> list[str]:
        """Assigns every routed service an address; returns the services without one."""
        missing = []
        for r in routes:
            if r.service in self.services:
                continue
            target = self.map.target(r.service)
            if target is None:
                if r.service not in missing:
                    missing.append(r.service)
                continue
            self.services[r.service] = target
        return missing

    def start(self) -> None:
        """Opens the pools (inside the running event loop) and starts connecting."""
        for target in sorted(set(self.services.values())):
            if target not in self.pools:
                pool = ChannelPool(target, self.channels, self.max_message, self.client)
                pool.connect()
                self.pools[target] = pool

    def pool_for(self, service: str) -> ChannelPool:
        """The pool of the address serving `service` (KeyError when unmapped)."""
        return self.pools[self.services[service]]

    def channel_for(self, service: str) -> Channel:
        """The channel to the address serving `service` (KeyError when unmapped)."""
        return self.pools[self.services[service]].channel

    async def readiness(self, wait: float = 1.0) -> dict[str, str]:
        """Each routed service's health status as seen on its address."""
        names = sorted(self.services)
        results = await asyncio.gather(*(self.pool_for(s).health(s, wait) for s in names))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        """Closes every pool."""
        await asyncio.gather(*(p.close() for p in self.pools.values()))
        self.pools.clear()
