"""The catalog's list-request grammar: ``filter`` terms and ``order_by`` keys.

The grammar is the one documented on ``ListProductsRequest``; every error is an
INVALID_ARGUMENT naming ``filter`` or ``order_by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from colonnade.catalog.model import INT64_MAX, NANOS_PER_UNIT
from colonnade.runtime.errors import FieldViolation, invalid_argument
from colonnade.runtime.filtering import filter_error, split_terms

SORT_FIELDS = ("title", "sku", "category", "price", "stock", "create_time", "update_time")


@dataclass(frozen=True, slots=True)
class Condition:
    """One filter term: ``field op value`` with ``value`` a str (category) or Money amount."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False


def _decimal_to_money_parts(raw: str) -> tuple[int, int]:
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise invalid_argument([FieldViolation("filter", f"{raw!r} is not a number")]) from None
    if amount < 0:
        raise invalid_argument([FieldViolation("filter", "price must not be negative")])
    units = int(amount)
    nanos = int((amount - units) * NANOS_PER_UNIT)
    if Decimal(units) + Decimal(nanos) / NANOS_PER_UNIT != amount:
        raise invalid_argument([FieldViolation("filter", f"{raw!r} has more than 9 decimals")])
    if units > INT64_MAX:
        raise invalid_argument([FieldViolation("filter", f"{raw!r} is too large")])
    return units, nanos


def parse_filter(text: str) -> tuple[Condition, ...]:
    """Parse ``category = "x" AND price >= 10 AND price < 20.5`` (see the proto's docs)."""
    conditions: list[Condition] = []
    for term in split_terms(text, 'category = "books"'):
        if term.field == "category":
            if term.op not in ("=", "!="):
                raise filter_error(f"category supports = and !=, not {term.op}")
            if term.kind != "string":
                raise filter_error("category must be compared to a quoted string")
            conditions.append(Condition("category", term.op, orjson.loads(term.value)))
        elif term.field == "price":
            if term.kind != "number":
                raise filter_error("price must be compared to a number")
            conditions.append(Condition("price", term.op, _decimal_to_money_parts(term.value)))
        else:
            raise filter_error(f"unknown field {term.field!r}; filterable: category, price")
    return tuple(conditions)


def parse_order_by(text: str) -> tuple[SortKey, ...]:
    """Parse ``price desc, title``; ``""`` means ``create_time``. ``id`` breaks ties."""
    if not text.strip():
        return (SortKey("create_time"),)
    keys: list[SortKey] = []
    for part in text.split(","):
        words = part.split()
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise invalid_argument(
                [FieldViolation("order_by", f"{part.strip()!r} is not `field` or `field desc`")]
            )
        if words[0] not in SORT_FIELDS:
            raise invalid_argument(
                [
                    FieldViolation(
                        "order_by",
                        f"cannot order by {words[0]!r}; use one of " + ", ".join(SORT_FIELDS),
                    )
                ]
            )
        if any(k.field == words[0] for k in keys):
            raise invalid_argument([FieldViolation("order_by", f"{words[0]!r} appears twice")])
        keys.append(SortKey(words[0], len(words) == 2 and words[1].lower() == "desc"))
    return tuple(keys)
