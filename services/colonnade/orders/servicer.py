"""The gRPC face of orders: proto ⇄ domain, nothing else.

Domain errors raised below are turned into rich statuses by the runtime's interceptor.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.type import money_pb2

from colonnade.orders.model import Order
from colonnade.orders.saga import Orders
from colonnade.orders.v1 import orders_pb2, orders_pb2_grpc
from colonnade.runtime.money import Money
from colonnade.runtime.responses import timestamp

SERVICE_NAME = orders_pb2.DESCRIPTOR.services_by_name["OrdersService"].full_name

Context = grpc.aio.ServicerContext[Any, Any]


def _money(value: Money) -> money_pb2.Money:
    return money_pb2.Money(currency_code=value.currency_code, units=value.units, nanos=value.nanos)


def order_to_proto(order: Order) -> orders_pb2.Order:
    return orders_pb2.Order(
        name=order.name,
        line_items=[
            orders_pb2.LineItem(
                product=i.product, quantity=i.quantity, unit_price=_money(i.unit_price)
            )
            for i in order.line_items
        ],
        currency_code=order.currency_code,
        state=order.state.value,
        total=_money(order.total),
        create_time=timestamp(order.create_time),
        update_time=timestamp(order.update_time),
    )


class OrdersServicer(orders_pb2_grpc.OrdersServiceServicer):  # type: ignore[misc]
    """Implements ``colonnade.orders.v1.OrdersService`` on :class:`Orders`."""

    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    async def CreateOrder(
        self, request: orders_pb2.CreateOrderRequest, context: Context
    ) -> orders_pb2.Order:
        created = await self._orders.create(
            request.request_id,
            request.order.currency_code,
            [(i.product, i.quantity) for i in request.order.line_items],
        )
        return order_to_proto(created)

    async def GetOrder(
        self, request: orders_pb2.GetOrderRequest, context: Context
    ) -> orders_pb2.Order:
        return order_to_proto(await self._orders.get(request.name))

    async def ListOrders(
        self, request: orders_pb2.ListOrdersRequest, context: Context
    ) -> orders_pb2.ListOrdersResponse:
        orders, token = await self._orders.list(
            request.page_size, request.page_token, request.filter
        )
        return orders_pb2.ListOrdersResponse(
            orders=[order_to_proto(o) for o in orders], next_page_token=token
        )

    async def CancelOrder(
        self, request: orders_pb2.CancelOrderRequest, context: Context
    ) -> orders_pb2.Order:
        return order_to_proto(await self._orders.cancel(request.name))

    async def ShipOrder(
        self, request: orders_pb2.ShipOrderRequest, context: Context
    ) -> orders_pb2.Order:
        return order_to_proto(await self._orders.ship(request.name))

    async def WatchOrder(
        self, request: orders_pb2.WatchOrderRequest, context: Context
    ) -> AsyncIterator[orders_pb2.WatchOrderResponse]:
        async for order in self._orders.watch(request.name):
            yield orders_pb2.WatchOrderResponse(order=order_to_proto(order))
