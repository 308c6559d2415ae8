"""Placing, changing, watching and recovering orders: the orders service's use cases.

Placing an order is a saga over two services, with the order's own row as its log:

1. price every line item from the catalog (nothing is written before this succeeds, so
   an unreachable catalog leaves nothing behind);
2. write the order, PENDING, owing ``RESERVE`` (a retry with the same request id finds
   this row and drives the same saga; the steps below are idempotent by the order id);
3. reserve the stock in the catalog under the order's id → owing ``COMMIT``;
4. commit the reservation → CONFIRMED, owing nothing.

When a step fails for good (not enough stock, the hold expired) the saga compensates:
it releases the reservation (releasing an id never reserved leaves a tombstone, so a
reserve still in flight holds nothing) and deletes the order. When it fails for now
(the catalog unreachable) the order keeps the step it owes, and the recovery pass, run
at start-up and on a timer, finishes it (``COMMIT``, ``RELEASE``) or compensates it
(``RESERVE``: its caller was told it failed) once it is older than a grace period.
No gRPC and no SQL here.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from colonnade.orders.listing import OrderQuery, build_order_query, next_page_token
from colonnade.orders.model import (
    FINAL_STATES,
    RESOURCE_TYPE,
    TRANSITIONS,
    LineItem,
    Order,
    OrderDraft,
    OrderState,
    Step,
    build_draft,
    forbidden_transition,
    new_order_id,
    parse_order_name,
)
from colonnade.runtime.errors import (
    DomainError,
    FieldViolation,
    aborted,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)
from colonnade.runtime.money import Money

log = logging.getLogger("colonnade.orders")


class StockRefused(Exception):
    """The catalog refused a reservation for good (not enough stock, product gone)."""

    def __init__(self, message: str, product: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.product = product
        self.reason = reason


class ReservationLost(Exception):
    """A reservation can no longer be committed: it was released or has expired."""

    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


class Stock(Protocol):
    """What orders need from the catalog. Unreachable → UNAVAILABLE DomainError."""

    async def prices(self, products: Sequence[str]) -> dict[str, Money]:
        """Each existing product's price by name (missing products are left out)."""
        ...

    async def reserve(
        self, reservation_id: str, items: Sequence[tuple[str, int]], ttl: timedelta
    ) -> str:
        """Hold the items' stock; the reservation's state. Raises :class:`StockRefused`."""
        ...

    async def commit(self, reservation_id: str) -> None:
        """Make the hold a sale. Raises :class:`ReservationLost`."""
        ...

    async def release(self, reservation_id: str) -> None:
        """Return the reservation's stock (also when never reserved: a tombstone)."""
        ...


class OrderRepository(Protocol):
    """What orders need from storage (implemented on asyncpg in ``storage``)."""

    async def insert(self, order_id: str, draft: OrderDraft, items: Sequence[LineItem]) -> Order:
        """Write a PENDING order owing RESERVE; with a request id already used, the old one."""
        ...

    async def fingerprint(self, order_id: str) -> str:
        """The fingerprint of the request that placed the order."""
        ...

    async def by_request_id(self, request_id: str) -> Order | None: ...

    async def get(self, order_id: str) -> Order | None: ...

    async def advance(
        self,
        order_id: str,
        expected: tuple[OrderState, Step | None],
        new: tuple[OrderState, Step | None],
    ) -> Order | None:
        """Move the order from ``expected`` to ``new`` (state, step); None if it was not there."""
        ...

    async def delete_pending(self, order_id: str) -> None:
        """Remove an order that never got its stock (PENDING only)."""
        ...

    async def list(self, query: OrderQuery, limit: int) -> list[Order]: ...

    async def claim_owing(self, older_than: timedelta) -> Order | None:
        """An order owing a step, unchanged for ``older_than``, leased to the caller."""
        ...


@dataclass(frozen=True, slots=True)
class Timings:
    """How long things take; the defaults are for production, tests shorten them."""

    #: How long the catalog holds an order's stock before the order must be committed.
    reservation_ttl: timedelta = timedelta(minutes=2)
    #: How long an order may owe a step before the recovery pass takes it over (longer
    #: than any CreateOrder call runs, so recovery never races a live saga).
    recovery_grace: timedelta = timedelta(seconds=60)
    #: How often a watcher rereads its order (changes made by other replicas).
    watch_poll: float = 0.5


@dataclass
class Orders:
    """The orders use cases over a repository and the catalog's stock."""

    repository: OrderRepository
    stock: Stock
    timings: Timings = Timings()
    _changed: dict[str, asyncio.Event] = field(default_factory=dict)

    # --- reads ---------------------------------------------------------------------------

    async def get(self, name: str) -> Order:
        """The order named ``name``, or NOT_FOUND."""
        order = await self.repository.get(parse_order_name(name))
        if order is None:
            raise not_found(RESOURCE_TYPE, name)
        return order

    async def list(
        self, page_size: int, page_token: str, filter_text: str
    ) -> tuple[list[Order], str]:
        """One page of orders, newest first, and the token of the next (empty on the last)."""
        query = build_order_query(page_size, page_token, filter_text)
        rows = await self.repository.list(query, query.page_size + 1)
        if len(rows) > query.page_size:
            rows = rows[: query.page_size]
            return rows, next_page_token(query, rows[-1])
        return rows, ""

    async def watch(self, name: str) -> AsyncIterator[Order]:
        """The order now, then again after each change of its state, until a final state."""
        order = await self.get(name)
        yield order
        while order.state not in FINAL_STATES:
            event = self._changed.setdefault(order.id, asyncio.Event())
            with contextlib.suppress(TimeoutError):  # a change on another replica: reread
                await asyncio.wait_for(event.wait(), self.timings.watch_poll)
            event.clear()
            current = await self.repository.get(order.id)
            if current is None:  # a PENDING order that could not be confirmed
                raise not_found(RESOURCE_TYPE, name)
            if current.state is not order.state:
                yield current
            order = current

    # --- placing an order ----------------------------------------------------------------

    async def create(
        self, request_id: str, currency_code: str, items: Sequence[tuple[str, int]]
    ) -> Order:
        """Place an order (see the module docstring); CONFIRMED or nothing left behind."""
        draft = build_draft(request_id, currency_code, items)
        if draft.request_id is not None:
            existing = await self.repository.by_request_id(draft.request_id)
            if existing is not None:
                return await self._drive(await self._same_request(existing, draft))
        line_items = await self._price(draft)
        order = await self.repository.insert(new_order_id(), draft, line_items)
        return await self._drive(await self._same_request(order, draft))

    async def _same_request(self, order: Order, draft: OrderDraft) -> Order:
        if draft.request_id is not None and (
            await self.repository.fingerprint(order.id) != draft.fingerprint
        ):
            raise already_exists(RESOURCE_TYPE, "request_id", draft.request_id)
        return order

    async def _price(self, draft: OrderDraft) -> builtins.list[LineItem]:
        prices = await self.stock.prices([product for product, _ in draft.items])
        problems: builtins.list[FieldViolation] = []
        items: builtins.list[LineItem] = []
        for i, (product, quantity) in enumerate(draft.items):
            price = prices.get(product)
            if price is None:
                problems.append(
                    FieldViolation(f"order.line_items[{i}].product", f"no product {product!r}")
                )
            elif price.currency_code != draft.currency_code:
                problems.append(
                    FieldViolation(
                        f"order.line_items[{i}].product",
                        f"{product!r} is priced in {price.currency_code}, "
                        f"not in the order's {draft.currency_code}",
                    )
                )
            else:
                items.append(LineItem(product, quantity, price))
        if problems:
            raise invalid_argument(problems)
        return items

    async def _advance(
        self,
        order: Order,
        expected: tuple[OrderState, Step | None],
        new: tuple[OrderState, Step | None],
    ) -> Order:
        """Advance ``order``, or reread it when a concurrent saga moved it first."""
        moved = await self.repository.advance(order.id, expected, new)
        if moved is not None:
            self._notify(order.id)
            return moved
        current = await self.repository.get(order.id)
        if current is None:
            raise aborted(
                f"order {order.name!r} was abandoned by a concurrent attempt; retry",
                "ORDER_ABANDONED",
                {"resource_name": order.name},
            )
        return current

    async def _drive(self, order: Order) -> Order:
        """Run the steps ``order`` still owes towards CONFIRMED (idempotent, re-entrant)."""
        while order.state is OrderState.PENDING:
            if order.step is Step.RESERVE:
                try:
                    state = await self.stock.reserve(
                        order.id,
                        [(i.product, i.quantity) for i in order.line_items],
                        self.timings.reservation_ttl,
                    )
                except StockRefused as exc:
                    await self._abandon(order)
                    raise failed_precondition(
                        exc.message, exc.reason, {"resource_name": exc.product}
                    ) from None
                except DomainError:
                    await self._abandon(order, best_effort=True)
                    raise
                if state not in ("HELD", "COMMITTED"):  # compensated by a concurrent attempt
                    await self._abandon(order)
                    raise aborted(
                        f"order {order.name!r} was abandoned by a concurrent attempt; retry",
                        "ORDER_ABANDONED",
                        {"resource_name": order.name},
                    )
                order = await self._advance(
                    order, (OrderState.PENDING, Step.RESERVE), (OrderState.PENDING, Step.COMMIT)
                )
            elif order.step is Step.COMMIT:
                try:
                    await self.stock.commit(order.id)
                except ReservationLost as exc:
                    await self._abandon(order)
                    raise failed_precondition(
                        f"order {order.name!r} could not be confirmed: its reservation is "
                        f"{exc.state}",
                        "RESERVATION_LOST",
                        {"resource_name": order.name, "state": exc.state},
                    ) from None
                order = await self._advance(
                    order, (OrderState.PENDING, Step.COMMIT), (OrderState.CONFIRMED, None)
                )
            else:  # pragma: no cover - the database's CHECK allows nothing else
                raise AssertionError(f"PENDING order {order.id} owes {order.step}")
        return order

    async def _abandon(self, order: Order, *, best_effort: bool = False) -> None:
        """Compensate: release the stock (or tombstone the id), then delete the order.

        ``best_effort``: when the catalog cannot be reached the order keeps owing its step
        and the recovery pass compensates later.
        """
        try:
            await self.stock.release(order.id)
        except DomainError:
            if not best_effort:
                raise
            log.warning("cannot compensate order %s now; the recovery pass will", order.id)
            return
        await self.repository.delete_pending(order.id)
        self._notify(order.id)

    # --- transitions clients ask for ------------------------------------------------------

    async def cancel(self, name: str) -> Order:
        """CONFIRMED → CANCELLED, returning the stock; other states: FAILED_PRECONDITION."""
        order = await self._transition(name, "cancelled", Step.RELEASE)
        return await self._release(order)

    async def ship(self, name: str) -> Order:
        """CONFIRMED → SHIPPED; other states: FAILED_PRECONDITION."""
        return await self._transition(name, "shipped", None)

    async def _transition(self, name: str, action: str, step: Step | None) -> Order:
        order = await self.get(name)
        needed, target = TRANSITIONS[action]
        moved = await self.repository.advance(order.id, (needed, None), (target, step))
        if moved is None:
            current = await self.repository.get(order.id)
            raise forbidden_transition(current or order, action)
        self._notify(order.id)
        return moved

    async def _release(self, order: Order) -> Order:
        """Return a cancelled order's stock; left to the recovery pass when unreachable."""
        try:
            await self.stock.release(order.id)
        except DomainError as exc:
            log.warning("order %s: stock not returned yet (%s)", order.id, exc.message)
            return order
        return await self._advance(
            order, (OrderState.CANCELLED, Step.RELEASE), (OrderState.CANCELLED, None)
        )

    # --- recovery ------------------------------------------------------------------------

    async def recover(self) -> int:
        """Finish or compensate every order a crash left owing a step; how many were handled.

        Stops at the first catalog outage (the next pass retries).
        """
        handled = 0
        while (order := await self.repository.claim_owing(self.timings.recovery_grace)) is not None:
            log.info("recovering order %s owing %s", order.id, order.step)
            try:
                if order.step is Step.RESERVE:
                    await self._abandon(order)
                elif order.step is Step.COMMIT:
                    await self._drive(order)
                else:
                    await self._release(order)
            except DomainError as exc:
                if exc.code.name in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                    raise
                log.info("order %s recovered: %s", order.id, exc.message)
            handled += 1
        return handled

    def _notify(self, order_id: str) -> None:
        event = self._changed.pop(order_id, None)
        if event is not None:
            event.set()
