"""The orders model: orders, their states and transitions, and create-request validation.

Field paths in errors are the request's own (``order.line_items[0].quantity``), so the
servicer passes them to clients unchanged. No gRPC, no storage here.
"""

from __future__ import annotations

import enum
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from colonnade.runtime.errors import (
    DomainError,
    FieldViolation,
    failed_precondition,
    invalid_argument,
)
from colonnade.runtime.money import CURRENCY_CODE, Money

RESOURCE_TYPE = "orders.colonnade.dev/Order"
NAME_PREFIX = "orders/"
PRODUCT_PREFIX = "products/"
MAX_LINE_ITEMS = 100
MAX_QUANTITY = 1_000_000

# The catalog's product ids (checked here so a typo never costs a catalog call).
_PRODUCT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ORDER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class OrderState(enum.Enum):
    """Where an order is in its life (the proto's ``Order.State``)."""

    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    SHIPPED = "SHIPPED"
    CANCELLED = "CANCELLED"


class Step(enum.Enum):
    """The catalog call an order still owes: its saga log (``None`` when it owes none)."""

    RESERVE = "RESERVE"  # written, the reservation's outcome unknown
    COMMIT = "COMMIT"  # stock reserved, not yet committed
    RELEASE = "RELEASE"  # cancelled, the stock not yet returned


#: The transitions clients ask for: action → (the state it needs, the state it leads to).
TRANSITIONS: dict[str, tuple[OrderState, OrderState]] = {
    "cancelled": (OrderState.CONFIRMED, OrderState.CANCELLED),
    "shipped": (OrderState.CONFIRMED, OrderState.SHIPPED),
}
#: States a watched order never leaves.
FINAL_STATES = frozenset({OrderState.SHIPPED, OrderState.CANCELLED})


@dataclass(frozen=True, slots=True)
class LineItem:
    """``quantity`` units of ``product`` (``products/{id}``) at ``unit_price``."""

    product: str
    quantity: int
    unit_price: Money

    @property
    def product_id(self) -> str:
        return self.product[len(PRODUCT_PREFIX) :]


@dataclass(frozen=True, slots=True)
class Order:
    """A stored order."""

    id: str
    line_items: tuple[LineItem, ...]
    currency_code: str
    state: OrderState
    step: Step | None
    total: Money
    version: int
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return NAME_PREFIX + self.id


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """A validated ``CreateOrder`` request: what to price and reserve."""

    request_id: str | None
    currency_code: str
    items: tuple[tuple[str, int], ...]  # (product name, quantity), in request order

    @property
    def fingerprint(self) -> str:
        """What a retry with the same request id must repeat."""
        text = self.currency_code + ";" + ";".join(f"{p}={q}" for p, q in self.items)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def new_order_id() -> str:
    """A fresh order id (a UUID: orders are numerous and never named by clients)."""
    return str(uuid.uuid4())


def parse_order_name(name: str, field_path: str = "name") -> str:
    """``orders/{id}`` → ``id``, or INVALID_ARGUMENT naming ``field_path``."""
    order_id = name[len(NAME_PREFIX) :]
    if not name:
        raise invalid_argument([FieldViolation(field_path, "is required")])
    if not name.startswith(NAME_PREFIX) or not _ORDER_ID.match(order_id):
        raise invalid_argument(
            [FieldViolation(field_path, f"{name!r} is not an order name: expected orders/{{uuid}}")]
        )
    return order_id


def _request_id_violation(request_id: str) -> FieldViolation | None:
    try:
        uuid.UUID(request_id)
    except ValueError:
        return FieldViolation("request_id", f"must be a UUID (AIP-155), got {request_id[:40]!r}")
    return None if len(request_id) == 36 else FieldViolation("request_id", "must be 36 characters")


def build_draft(
    request_id: str, currency_code: str, items: Sequence[tuple[str, int]]
) -> OrderDraft:
    """Validate a create request, naming every bad field at once."""
    problems: list[FieldViolation] = []
    if request_id:
        violation = _request_id_violation(request_id)
        if violation is not None:
            problems.append(violation)
    if not CURRENCY_CODE.match(currency_code):
        problems.append(
            FieldViolation(
                "order.currency_code",
                f"must be a three-letter ISO 4217 code such as EUR, got {currency_code!r}",
            )
        )
    if not items:
        problems.append(FieldViolation("order.line_items", "at least one line item is required"))
    elif len(items) > MAX_LINE_ITEMS:
        problems.append(FieldViolation("order.line_items", f"at most {MAX_LINE_ITEMS} items"))
    seen: set[str] = set()
    for i, (product, quantity) in enumerate(items):
        path = f"order.line_items[{i}]"
        if not product.startswith(PRODUCT_PREFIX) or not _PRODUCT_ID.match(
            product[len(PRODUCT_PREFIX) :]
        ):
            problems.append(
                FieldViolation(
                    f"{path}.product",
                    "is required"
                    if not product
                    else f"{product!r} is not a product name: expected products/{{id}}",
                )
            )
        elif product in seen:
            problems.append(FieldViolation(f"{path}.product", f"{product!r} appears twice"))
        seen.add(product)
        if not 1 <= quantity <= MAX_QUANTITY:
            problems.append(
                FieldViolation(f"{path}.quantity", f"must be between 1 and {MAX_QUANTITY:,}")
            )
    if problems:
        raise invalid_argument(problems)
    return OrderDraft(request_id or None, currency_code, tuple(items))


def forbidden_transition(order: Order, action: str) -> DomainError:
    """FAILED_PRECONDITION naming the order's current state and the state it needs."""
    needed = TRANSITIONS[action][0].value
    state = order.state.value
    return failed_precondition(
        f"order {order.name!r} is {state}: only a {needed} order can be {action}",
        "ORDER_STATE_CONFLICT",
        {"resource_name": order.name, "state": state, "required_state": needed},
    )


def order_total(currency_code: str, items: Sequence[LineItem]) -> Money:
    """The sum of every item's unit price times its quantity, exactly."""
    return Money.from_nanos(
        currency_code, sum(i.unit_price.total_nanos * i.quantity for i in items)
    )
