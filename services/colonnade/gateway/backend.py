"""gRPC backends: which address serves which service, and a warm pool of channels per address.

One grpc.aio channel is one HTTP/2 connection; a backend running several processes behind
SO_REUSEPORT balances connections, not calls, so the gateway keeps several channels per
address (distinct channel arguments stop gRPC from sharing one subchannel) and spreads calls
over them round-robin. Calls go out with bytes: the gateway serializes the request itself
and deserializes responses with the message class of its own descriptor pool.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from colonnade.gateway.routing import Route


class BackendConfigError(ValueError):
    """A backend mapping cannot be parsed or does not cover a routed service."""


@dataclass(frozen=True)
class BackendMap:
    """Maps a service to an address: exact service name, then longest package prefix, then `*`."""

    entries: dict[str, str]

    @classmethod
    def parse(cls, specs: Iterable[str]) -> BackendMap:
        """From `name=host:port` strings (name: a service, a package, or `*`)."""
        entries: dict[str, str] = {}
        for spec in specs:
            name, sep, target = spec.partition("=")
            name, target = name.strip(), target.strip()
            if not sep or not name or not target:
                raise BackendConfigError(
                    f"backend {spec!r}: expected SERVICE=HOST:PORT, e.g. "
                    "'colonnade.catalog.v1.CatalogService=127.0.0.1:50051'"
                )
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


def _channel_options(index: int, max_message: int) -> list[tuple[str, Any]]:
    return [
        # Distinct arguments give each channel its own connection.
        ("grpc.channel_pool_index", index),
        ("grpc.keepalive_time_ms", 30_000),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", max_message),
        ("grpc.max_send_message_length", max_message),
        ("grpc.enable_retries", 0),
    ]


class ChannelPool:
    """`size` channels to one address, handed out round-robin."""

    def __init__(self, target: str, size: int, max_message: int) -> None:
        self.target = target
        self.channels = [
            grpc.aio.insecure_channel(target, options=_channel_options(i, max_message))
            for i in range(max(1, size))
        ]
        self._next = itertools.cycle(range(len(self.channels)))
        self._callables: dict[tuple[int, str, str], Any] = {}

    def unary(self, path: str, deserialize: Callable[[bytes], Any]) -> Any:
        """A unary-unary multicallable on the next channel (bytes in, message out)."""
        return self._callable("unary_unary", path, deserialize)

    def stream(self, path: str, deserialize: Callable[[bytes], Any]) -> Any:
        """A unary-stream multicallable on the next channel."""
        return self._callable("unary_stream", path, deserialize)

    def _callable(self, kind: str, path: str, deserialize: Callable[[bytes], Any]) -> Any:
        i = next(self._next)
        key = (i, kind, path)
        mc = self._callables.get(key)
        if mc is None:
            factory = getattr(self.channels[i], kind)
            mc = factory(path, request_serializer=None, response_deserializer=deserialize)
            self._callables[key] = mc
        return mc

    def connect(self) -> None:
        """Starts connecting every channel now, so the first requests find them warm."""
        for ch in self.channels:
            ch.get_state(try_to_connect=True)

    async def health(self, service: str, wait: float) -> str:
        """grpc.health.v1 status name of `service` on this address ("UNREACHABLE" on error)."""
        check = self.channels[0].unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        for name in (service, ""):
            try:
                resp = await check(health_pb2.HealthCheckRequest(service=name), timeout=wait)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND and name:
                    continue  # the server tracks only the overall status
                return (
                    "UNREACHABLE"
                    if exc.code() != grpc.StatusCode.UNIMPLEMENTED
                    else "UNIMPLEMENTED"
                )
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status))
        return "UNKNOWN"  # pragma: no cover

    async def close(self) -> None:
        """Closes every channel."""
        await asyncio.gather(*(ch.close() for ch in self.channels))


class Backends:
    """The channel pools of every address the routes need."""

    def __init__(self, backend_map: BackendMap, *, channels: int, max_message: int) -> None:
        self.map = backend_map
        self.channels = channels
        self.max_message = max_message
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
                pool = ChannelPool(target, self.channels, self.max_message)
                pool.connect()
                self.pools[target] = pool

    def pool_for(self, service: str) -> ChannelPool:
        """The pool of the address serving `service` (KeyError when unmapped)."""
        return self.pools[self.services[service]]

    async def readiness(self, wait: float = 1.0) -> dict[str, str]:
        """Each routed service's health status as seen on its address."""
        names = sorted(self.services)
        results = await asyncio.gather(*(self.pool_for(s).health(s, wait) for s in names))
        return dict(zip(names, results, strict=True))

    async def close(self) -> None:
        """Closes every pool."""
        await asyncio.gather(*(p.close() for p in self.pools.values()))
        self.pools.clear()
