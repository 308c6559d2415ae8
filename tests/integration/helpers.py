"""Helpers shared by the integration tests: stubs, rich-status decoding."""

from __future__ import annotations

import ssl

import aiomcache
import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from colonnade.catalog.v1 import catalog_pb2
from colonnade_tools.devstack.memcached import MemcachedServer


def rich_status(error: grpc.aio.AioRpcError) -> tuple[dict[str, str], error_details_pb2.ErrorInfo]:
    """(field → description of every BadRequest violation, the ErrorInfo) of a failed call."""
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status details"
    assert status.code == error.code().value[0]
    violations: dict[str, str] = {}
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.update({v.field: v.description for v in bad.field_violations})
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return violations, info


def new_product(unique: str, **overrides: object) -> catalog_pb2.Product:
    values: dict[str, object] = {
        "sku": f"SKU-{unique}",
        "title": f"Product {unique}",
        "description": "A thing",
        "category": f"cat-{unique}",
        "stock": 5,
    }
    values.update(overrides)
    product = catalog_pb2.Product(**values)  # type: ignore[arg-type]
    if "price" not in overrides:
        product.price.currency_code = "EUR"
        product.price.units = 12
        product.price.nanos = 500_000_000
    return product


def _memcached_client(server: MemcachedServer, tls: ssl.SSLContext | None) -> aiomcache.Client:
    return aiomcache.Client(server.host, server.port, conn_args={"ssl": tls} if tls else None)


async def memcached_stats(
    server: MemcachedServer, tls: ssl.SSLContext | None = None
) -> dict[bytes, bytes]:
    """``stats`` of one memcached (over TLS with a client context ``tls``)."""
    client = _memcached_client(server, tls)
    try:
        stats = await client.stats()
        return {key: value or b"" for key, value in stats.items()}
    finally:
        await client.close()


async def memcached_get(
    server: MemcachedServer, key: bytes, tls: ssl.SSLContext | None = None
) -> bytes | None:
    """What one memcached holds under ``key``, read directly (not through the service)."""
    client = _memcached_client(server, tls)
    try:
        return await client.get(key)
    finally:
        await client.close()
