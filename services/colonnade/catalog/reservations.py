"""Stock reservations: stock held for an order until it is committed, released or expires.

A reservation takes stock from its products when it is made (a conditional decrement:
stock never goes negative), so held stock can never be sold twice. Committing makes
the sale final; releasing (an order cancelled, or a saga compensating) returns the
stock; a hold never committed expires and an expiry sweep returns its stock.

Every call is idempotent by the reservation's id, chosen by the caller, so a retried
call (after a timeout, a crash, a reconnect) cannot reserve or return stock twice.
No gRPC and no SQL here: the repository does each step in one transaction.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from colonnade.catalog.model import ID_PATTERN, NAME_PREFIX, parse_name
from colonnade.runtime.errors import (
    DomainError,
    FieldViolation,
    already_exists,
    failed_precondition,
    invalid_argument,
    not_found,
)

RESOURCE_TYPE = "catalog.colonnade.dev/Reservation"
RESERVATION_PREFIX = "reservations/"
DEFAULT_TTL = timedelta(minutes=5)
MIN_TTL = timedelta(seconds=1)
MAX_TTL = timedelta(hours=1)
MAX_ITEMS = 100
MAX_QUANTITY = 1_000_000


class ReservationState(enum.Enum):
    """Where a reservation is in its life (the proto's ``Reservation.State``)."""

    HELD = "HELD"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True, slots=True)
class ReservationItem:
    """``quantity`` units of the product ``product_id``."""

    product_id: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A stored reservation."""

    id: str
    items: tuple[ReservationItem, ...]
    state: ReservationState
    expire_time: datetime
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return RESERVATION_PREFIX + self.id


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    """A validated reserve call: items sorted by product id (the order rows are locked in)."""

    reservation_id: str
    items: tuple[ReservationItem, ...]
    ttl: timedelta

    @property
    def fingerprint(self) -> str:
        """What a retry must repeat: the items (the ttl may differ between attempts)."""
        text = ";".join(f"{i.product_id}={i.quantity}" for i in self.items)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


class InsufficientStock(Exception):
    """Raised by a repository when a product has less stock than an item asks for."""

    def __init__(self, product_id: str, available: int) -> None:
        super().__init__(product_id)
        self.product_id = product_id
        self.available = available


class ReservationRepository(Protocol):
    """What reservations need from storage; each method is one transaction."""

    async def reserve(self, request: ReservationRequest) -> tuple[Reservation, str]:
        """Record the hold and decrement every item's stock, or change nothing.

        Returns the reservation and the fingerprint it was stored with: when the id
        exists already, the existing reservation (nothing is decremented). Raises
        :class:`InsufficientStock`, or NOT_FOUND for a product that does not exist.
        """
        ...

    async def commit(self, reservation_id: str) -> Reservation | None:
        """HELD and not expired → COMMITTED (an expired hold is expired on the way)."""
        ...

    async def release(self, reservation_id: str) -> Reservation:
        """HELD or COMMITTED → RELEASED with the stock returned; unknown → a released tombstone."""
        ...

    async def expire(self, limit: int) -> list[Reservation]:
        """Expire up to ``limit`` holds past their expiry, returning their stock."""
        ...


def parse_reservation_name(name: str, field_path: str = "name") -> str:
    """``reservations/{id}`` → ``id``, or INVALID_ARGUMENT naming ``field_path``."""
    if not name:
        raise invalid_argument([FieldViolation(field_path, "is required")])
    reservation_id = name[len(RESERVATION_PREFIX) :]
    if not name.startswith(RESERVATION_PREFIX) or not ID_PATTERN.match(reservation_id):
        raise invalid_argument(
            [
                FieldViolation(
                    field_path,
                    f"{name!r} is not a reservation name: expected reservations/{{id}} where "
                    "id is 1-63 lowercase letters, digits or '-'",
                )
            ]
        )
    return reservation_id


def build_reservation_request(
    reservation_id: str, items: Sequence[tuple[str, int]], ttl: timedelta | None
) -> ReservationRequest:
    """Validate a reserve call, naming every bad field at once.

    ``items`` are (product name, quantity) pairs as the request carries them.
    """
    problems: list[FieldViolation] = []
    if not ID_PATTERN.match(reservation_id):
        problems.append(
            FieldViolation(
                "reservation_id",
                "is required"
                if not reservation_id
                else "must be 1-63 lowercase letters, "
                "digits or '-', starting and ending with a letter or digit",
            )
        )
    if not items:
        problems.append(FieldViolation("items", "at least one item is required"))
    elif len(items) > MAX_ITEMS:
        problems.append(FieldViolation("items", f"at most {MAX_ITEMS} items, got {len(items)}"))
    parsed: dict[str, ReservationItem] = {}
    for i, (product, quantity) in enumerate(items):
        try:
            product_id = parse_name(product, f"items[{i}].product")
        except DomainError as exc:
            problems.extend(exc.violations)
            continue
        if product_id in parsed:
            problems.append(FieldViolation(f"items[{i}].product", f"{product!r} appears twice"))
        if not 1 <= quantity <= MAX_QUANTITY:
            problems.append(
                FieldViolation(f"items[{i}].quantity", f"must be between 1 and {MAX_QUANTITY:,}")
            )
        parsed[product_id] = ReservationItem(product_id, quantity)
    if ttl is not None and not MIN_TTL <= ttl <= MAX_TTL:
        problems.append(FieldViolation("ttl", "must be between 1 second and 1 hour"))
    if problems:
        raise invalid_argument(problems)
    return ReservationRequest(
        reservation_id,
        tuple(sorted(parsed.values(), key=lambda i: i.product_id)),
        ttl or DEFAULT_TTL,
    )


def _wrong_state(reservation: Reservation, wanted: str) -> DomainError:
    state = reservation.state.value
    return failed_precondition(
        f"reservation {reservation.name!r} is {state}: only a HELD reservation can be {wanted}",
        "RESERVATION_NOT_HELD",
        {"resource_name": reservation.name, "state": state},
    )


@dataclass
class StockReservations:
    """The reservation use cases over a :class:`ReservationRepository`."""

    repository: ReservationRepository

    async def reserve(
        self, reservation_id: str, items: Sequence[tuple[str, int]], ttl: timedelta | None
    ) -> Reservation:
        """Hold the items' stock (see ``ReserveStock`` in the proto)."""
        request = build_reservation_request(reservation_id, items, ttl)
        try:
            reservation, fingerprint = await self.repository.reserve(request)
        except InsufficientStock as exc:
            name = NAME_PREFIX + exc.product_id
            raise failed_precondition(
                f"product {name!r} has {exc.available} in stock, fewer than requested",
                "INSUFFICIENT_STOCK",
                {"resource_name": name, "available": str(exc.available)},
            ) from None
        # A tombstone (released before it was reserved) has no items: it is returned as is.
        if fingerprint and fingerprint != request.fingerprint:
            raise already_exists(RESOURCE_TYPE, "reservation_id", reservation_id)
        return reservation

    async def commit(self, name: str) -> Reservation:
        """Make a hold permanent; idempotent (see ``CommitReservation``)."""
        reservation_id = parse_reservation_name(name)
        reservation = await self.repository.commit(reservation_id)
        if reservation is None:
            raise not_found(RESOURCE_TYPE, name)
        if reservation.state is not ReservationState.COMMITTED:
            raise _wrong_state(reservation, "committed")
        return reservation

    async def release(self, name: str) -> Reservation:
        """Return a reservation's stock; idempotent (see ``ReleaseReservation``)."""
        return await self.repository.release(parse_reservation_name(name))

    async def expire(self, limit: int = 100) -> list[Reservation]:
        """One pass of the expiry sweep: the holds it expired."""
        return await self.repository.expire(limit)
