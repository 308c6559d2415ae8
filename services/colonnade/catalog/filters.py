"""The catalog's list-request grammar: ``filter`` terms and ``order_by`` keys.

The grammar is the one documented on ``ListProductsRequest``; every error is an
INVALID_ARGUMENT naming ``filter`` or ``order_by``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from colonnade.catalog.model import INT64_MAX, NANOS_PER_UNIT
from colonnade.runtime.errors import FieldViolation, invalid_argument

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


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<and>AND\b)
      | (?P<field>[a-z_][a-z0-9_.]*)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise invalid_argument(
                [
                    FieldViolation(
                        "filter", f"cannot parse {text[pos:].strip()[:20]!r} at offset {pos}"
                    )
                ]
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


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
    if not text.strip():
        return ()
    tokens = _tokens(text)
    conditions: list[Condition] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise invalid_argument(
                [FieldViolation("filter", 'expected a term such as category = "books"')]
            )
        (k1, name), (k2, op), (k3, value) = tokens[i : i + 3]
        if k1 != "field" or k2 != "op":
            raise invalid_argument(
                [FieldViolation("filter", f"expected `field operator value`, got {name!r} {op!r}")]
            )
        if name == "category":
            if op not in ("=", "!="):
                raise invalid_argument(
                    [FieldViolation("filter", f"category supports = and !=, not {op}")]
                )
            if k3 != "string":
                raise invalid_argument(
                    [FieldViolation("filter", "category must be compared to a quoted string")]
                )
            conditions.append(Condition("category", op, orjson.loads(value)))
        elif name == "price":
            if k3 != "number":
                raise invalid_argument(
                    [FieldViolation("filter", "price must be compared to a number")]
                )
            conditions.append(Condition("price", op, _decimal_to_money_parts(value)))
        else:
            raise invalid_argument(
                [FieldViolation("filter", f"unknown field {name!r}; filterable: category, price")]
            )
        i += 3
        if i == len(tokens):
            return tuple(conditions)
        if tokens[i][0] != "and":
            raise invalid_argument(
                [FieldViolation("filter", f"expected AND between terms, got {tokens[i][1]!r}")]
            )
        i += 1


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
