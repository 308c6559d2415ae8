"""The catalog's list-request grammar: ``filter`` terms and ``order_by`` keys.

The grammar is the one documented on ``ListProductsRequest``; every error is an
INVALID_ARGUMENT naming ``filter`` or ``order_by``. Each API version names the fields in
its own words (v2's ``display_name`` is the domain's ``title``): a :class:`ListVocabulary`
maps them to the domain's, and errors speak the version's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from colonnade.runtime.errors import FieldViolation, invalid_argument
from colonnade.runtime.filtering import filter_error, split_terms
from colonnade.runtime.money import AmountError, parse_amount

SORT_FIELDS = ("title", "sku", "category", "price", "stock", "create_time", "update_time")
#: Domain fields a filter compares to a quoted string, with ``=`` or ``!=``.
STRING_FILTER_FIELDS = ("title", "category")


@dataclass(frozen=True, slots=True)
class ListVocabulary:
    """One API version's names for the fields ``filter`` and ``order_by`` accept.

    Both map the version's name to the domain field (:data:`SORT_FIELDS`, ``price``,
    :data:`STRING_FILTER_FIELDS`), in the order error messages list them.
    """

    filter_fields: Mapping[str, str]
    sort_fields: Mapping[str, str]
    #: A valid filter term, quoted in errors.
    example: str = 'category = "books"'


#: v1's words: the domain's own; its filter has no title term.
V1_VOCABULARY = ListVocabulary(
    filter_fields={"category": "category", "price": "price"},
    sort_fields={name: name for name in SORT_FIELDS},
)


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
        units, nanos = parse_amount(raw)
    except AmountError as exc:
        raise filter_error(f"price: {exc}") from None
    if units < 0 or nanos < 0:
        raise filter_error("price must not be negative")
    return units, nanos


def parse_filter(text: str, vocabulary: ListVocabulary = V1_VOCABULARY) -> tuple[Condition, ...]:
    """Parse ``category = "x" AND price >= 10 AND price < 20.5`` (see the proto's docs)."""
    conditions: list[Condition] = []
    for term in split_terms(text, vocabulary.example):
        field = vocabulary.filter_fields.get(term.field)
        if field in STRING_FILTER_FIELDS:
            if term.op not in ("=", "!="):
                raise filter_error(f"{term.field} supports = and !=, not {term.op}")
            if term.kind != "string":
                raise filter_error(f"{term.field} must be compared to a quoted string")
            conditions.append(Condition(field, term.op, orjson.loads(term.value)))
        elif field == "price":
            if term.kind != "number":
                raise filter_error(f"{term.field} must be compared to a number")
            conditions.append(Condition("price", term.op, _decimal_to_money_parts(term.value)))
        else:
            raise filter_error(
                f"unknown field {term.field!r}; filterable: " + ", ".join(vocabulary.filter_fields)
            )
    return tuple(conditions)


def parse_order_by(text: str, vocabulary: ListVocabulary = V1_VOCABULARY) -> tuple[SortKey, ...]:
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
        field = vocabulary.sort_fields.get(words[0])
        if field is None:
            raise invalid_argument(
                [
                    FieldViolation(
                        "order_by",
                        f"cannot order by {words[0]!r}; use one of "
                        + ", ".join(vocabulary.sort_fields),
                    )
                ]
            )
        if any(k.field == field for k in keys):
            raise invalid_argument([FieldViolation("order_by", f"{words[0]!r} appears twice")])
        keys.append(SortKey(field, len(words) == 2 and words[1].lower() == "desc"))
    return tuple(keys)
