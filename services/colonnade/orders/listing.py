"""``ListOrders``: its filter grammar, page size and page tokens.

Orders list newest first (``create_time`` then id, both descending), so a token records
the last order's create time and id, bound to the filter it was issued for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from colonnade.orders.model import Order, OrderState
from colonnade.runtime import pagetokens
from colonnade.runtime.errors import DomainError, FieldViolation, invalid_argument
from colonnade.runtime.filtering import filter_error, split_terms

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_TIME_OPS = ("<", "<=", ">", ">=")


@dataclass(frozen=True, slots=True)
class OrderCondition:
    """``state = CONFIRMED`` (value an :class:`OrderState`) or ``create_time >= t``."""

    field: str
    op: str
    value: OrderState | datetime


@dataclass(frozen=True, slots=True)
class OrderQuery:
    """A validated ``ListOrders`` request."""

    page_size: int
    conditions: tuple[OrderCondition, ...] = ()
    after: tuple[datetime, str] | None = None  # create time and id of the last order seen
    fingerprint: str = ""


def _state(term_value: str) -> OrderState:
    try:
        return OrderState(term_value)
    except ValueError:
        names = ", ".join(s.value for s in OrderState)
        raise filter_error(f"{term_value!r} is not a state; states are {names}") from None


def _timestamp(raw: str) -> datetime:
    text = orjson.loads(raw)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise filter_error(f"{text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise filter_error(f"{text!r} needs a time zone, for example Z")
    return value


def parse_order_filter(text: str) -> tuple[OrderCondition, ...]:
    """Parse ``state = CONFIRMED AND create_time >= "2026-01-01T00:00:00Z"``."""
    conditions: list[OrderCondition] = []
    for term in split_terms(text, "state = CONFIRMED"):
        if term.field == "state":
            if term.op not in ("=", "!="):
                raise filter_error(f"state supports = and !=, not {term.op}")
            if term.kind != "field":
                raise filter_error("state must be compared to a state such as CONFIRMED")
            conditions.append(OrderCondition("state", term.op, _state(term.value)))
        elif term.field == "create_time":
            if term.op not in _TIME_OPS:
                raise filter_error(f"create_time supports {', '.join(_TIME_OPS)}, not {term.op}")
            if term.kind != "string":
                raise filter_error("create_time must be compared to a quoted RFC 3339 time")
            conditions.append(OrderCondition("create_time", term.op, _timestamp(term.value)))
        else:
            raise filter_error(f"unknown field {term.field!r}; filterable: state, create_time")
    return tuple(conditions)


def build_order_query(page_size: int, page_token: str, filter_text: str) -> OrderQuery:
    """Validate a list request, reporting every bad field at once."""
    problems: list[FieldViolation] = []
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
    conditions: tuple[OrderCondition, ...] = ()
    try:
        conditions = parse_order_filter(filter_text)
    except DomainError as exc:
        problems.extend(exc.violations)
    fingerprint = pagetokens.fingerprint(filter_text.strip())
    after = None
    if page_token:
        try:
            created, order_id = pagetokens.decode_page_token(
                page_token, fingerprint, (datetime, str), mismatch="was issued for another filter"
            )
            after = (created, order_id)
        except DomainError as exc:
            problems.extend(exc.violations)
    if problems:
        raise invalid_argument(problems)
    return OrderQuery(page_size or DEFAULT_PAGE_SIZE, conditions, after, fingerprint)


def next_page_token(query: OrderQuery, last: Order) -> str:
    """The token of the page after ``last``, the last order of a page of ``query``."""
    return pagetokens.encode_page_token(query.fingerprint, (last.create_time, last.id))
