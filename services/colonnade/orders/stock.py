"""The catalog's stock, reached over the runtime's internal gRPC client.

Implements :class:`~colonnade.orders.saga.Stock`. Every method used here is safe to
retry: ``GetProduct`` reads, and the reservation methods are idempotent by the
reservation id, so the channel retries them on UNAVAILABLE. The catalog's answers become
domain errors: unreachable → UNAVAILABLE, too slow for the caller's deadline →
DEADLINE_EXCEEDED, a refused reservation → :class:`~colonnade.orders.saga.StockRefused`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.orders.saga import ReservationLost, StockRefused
from colonnade.runtime.client import Channels, ClientConfig, MethodPolicy
from colonnade.runtime.errors import Code, DomainError, deadline_exceeded, unavailable
from colonnade.runtime.money import Money

SERVICE = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
CATALOG = ClientConfig(
    SERVICE,
    {
        "GetProduct": MethodPolicy(timeout=2.0, retryable=True),
        "ReserveStock": MethodPolicy(timeout=5.0, retryable=True),
        "CommitReservation": MethodPolicy(timeout=5.0, retryable=True),
        "ReleaseReservation": MethodPolicy(timeout=5.0, retryable=True),
    },
)
_RESERVATIONS = "reservations/"


def _error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return info


def _unexpected(error: grpc.aio.AioRpcError) -> DomainError:
    """The catalog failing in a way orders cannot act on."""
    code = error.code()
    if code is grpc.StatusCode.UNAVAILABLE:
        return unavailable("catalog", error.details() or "")
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return deadline_exceeded("catalog")
    return DomainError(
        message=f"the catalog answered {code.name}: {error.details()}",
        code=Code.INTERNAL,
        reason="CATALOG_ERROR",
        metadata={"dependency": "catalog", "code": code.name},
    )


class CatalogStock:
    """:class:`~colonnade.orders.saga.Stock` on the catalog at ``target``."""

    def __init__(self, channels: Channels, target: str) -> None:
        self._stub: Any = catalog_pb2_grpc.CatalogServiceStub(channels.get(target, CATALOG))

    async def prices(self, products: Sequence[str]) -> dict[str, Money]:
        async def price(name: str) -> tuple[str, Money | None]:
            try:
                product = await self._stub.GetProduct(catalog_pb2.GetProductRequest(name=name))
            except grpc.aio.AioRpcError as exc:
                if exc.code() is grpc.StatusCode.NOT_FOUND:
                    return name, None
                raise _unexpected(exc) from None
            p = product.price
            return name, Money(p.currency_code, p.units, p.nanos)

        found = await asyncio.gather(*(price(name) for name in products))
        return {name: money for name, money in found if money is not None}

    async def reserve(
        self, reservation_id: str, items: Sequence[tuple[str, int]], ttl: timedelta
    ) -> str:
        request = catalog_pb2.ReserveStockRequest(
            reservation_id=reservation_id,
            items=[catalog_pb2.ReservationItem(product=p, quantity=q) for p, q in items],
            ttl=duration_pb2.Duration(seconds=int(ttl.total_seconds())),
        )
        try:
            reservation = await self._stub.ReserveStock(request)
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                info = _error_info(exc)
                product = info.metadata.get("resource_name", "")
                raise StockRefused(
                    exc.details() or "stock refused",
                    product,
                    info.reason or "PRODUCT_NOT_FOUND",
                ) from None
            raise _unexpected(exc) from None
        return str(catalog_pb2.Reservation.State.Name(reservation.state))

    async def commit(self, reservation_id: str) -> None:
        name = _RESERVATIONS + reservation_id
        try:
            await self._stub.CommitReservation(catalog_pb2.CommitReservationRequest(name=name))
        except grpc.aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.FAILED_PRECONDITION:
                raise ReservationLost(_error_info(exc).metadata.get("state", "lost")) from None
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                raise ReservationLost("missing") from None
            raise _unexpected(exc) from None

    async def release(self, reservation_id: str) -> None:
        name = _RESERVATIONS + reservation_id
        try:
            await self._stub.ReleaseReservation(catalog_pb2.ReleaseReservationRequest(name=name))
        except grpc.aio.AioRpcError as exc:
            raise _unexpected(exc) from None
