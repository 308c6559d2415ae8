"""The gRPC face of the catalog: proto ⇄ domain, nothing else.

Domain errors raised below are turned into rich statuses by the runtime's
interceptor, so this module never builds a status itself.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2

from colonnade.catalog.domain import Catalog
from colonnade.catalog.model import NAME_PREFIX, Money, Product, ProductFields
from colonnade.catalog.reservations import Reservation, StockReservations
from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.responses import ByIdentity, set_timestamp, timestamp

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


def product_to_proto(product: Product) -> catalog_pb2.Product:
    message = catalog_pb2.Product(
        name=NAME_PREFIX + product.id,
        sku=product.sku,
        title=product.title,
        description=product.description,
        category=product.category,
        stock=product.stock,
        etag=product.etag,
    )
    # Sub-messages filled in place: one passed to the constructor would be built, then copied.
    price, target = product.price, message.price
    target.currency_code = price.currency_code
    target.units = price.units
    target.nanos = price.nanos
    set_timestamp(message.create_time, product.create_time)
    set_timestamp(message.update_time, product.update_time)
    return message


def fields_from_proto(message: catalog_pb2.Product) -> ProductFields:
    price = None
    if message.HasField("price"):
        price = Money(message.price.currency_code, message.price.units, message.price.nanos)
    return ProductFields(
        sku=message.sku,
        title=message.title,
        description=message.description,
        category=message.category,
        price=price,
        stock=message.stock,
    )


def reservation_to_proto(reservation: Reservation) -> catalog_pb2.Reservation:
    return catalog_pb2.Reservation(
        name=reservation.name,
        items=[
            catalog_pb2.ReservationItem(product=NAME_PREFIX + i.product_id, quantity=i.quantity)
            for i in reservation.items
        ],
        state=reservation.state.value,
        expire_time=timestamp(reservation.expire_time),
        create_time=timestamp(reservation.create_time),
        update_time=timestamp(reservation.update_time),
    )


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):  # type: ignore[misc]
    """Implements ``colonnade.catalog.v1.CatalogService`` on a :class:`Catalog`."""

    def __init__(
        self, catalog: Catalog, reservations: StockReservations, *, shared_products: bool = True
    ) -> None:
        self._catalog = catalog
        self._reservations = reservations
        # A product from the cache's hot entries is the same object call after call.
        self._product_proto = ByIdentity.when(shared_products, product_to_proto)

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        return self._product_proto(await self._catalog.get(request.name))

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.ListProductsResponse:
        products, token = await self._catalog.list(
            request.page_size, request.page_token, request.filter, request.order_by
        )
        return catalog_pb2.ListProductsResponse(
            products=[product_to_proto(p) for p in products], next_page_token=token
        )

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        created = await self._catalog.create(fields_from_proto(request.product), request.product_id)
        return product_to_proto(created)

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        mask = list(request.update_mask.paths) if request.HasField("update_mask") else None
        updated = await self._catalog.update(
            request.product.name, fields_from_proto(request.product), mask, request.product.etag
        )
        return product_to_proto(updated)

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        await self._catalog.delete(request.name, request.etag)
        return empty_pb2.Empty()

    async def ReserveStock(
        self, request: catalog_pb2.ReserveStockRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Reservation:
        reserved = await self._reservations.reserve(
            request.reservation_id,
            [(item.product, item.quantity) for item in request.items],
            request.ttl.ToTimedelta() if request.HasField("ttl") else None,
        )
        return reservation_to_proto(reserved)

    async def CommitReservation(
        self,
        request: catalog_pb2.CommitReservationRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.Reservation:
        return reservation_to_proto(await self._reservations.commit(request.name))

    async def ReleaseReservation(
        self,
        request: catalog_pb2.ReleaseReservationRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> catalog_pb2.Reservation:
        return reservation_to_proto(await self._reservations.release(request.name))
