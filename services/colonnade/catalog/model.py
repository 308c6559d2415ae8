"""The catalog's model: products, money, names, field validation and update masks.

Field paths in errors are the request's own (``product.price.units``), so the
servicer can pass them to clients unchanged. No gRPC, no storage here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from colonnade.runtime.errors import FieldViolation, invalid_argument
from colonnade.runtime.money import CURRENCY_CODE
from colonnade.runtime.money import NANOS_PER_UNIT as NANOS_PER_UNIT
from colonnade.runtime.money import Money as Money

RESOURCE_TYPE = "catalog.colonnade.dev/Product"
NAME_PREFIX = "products/"
INT64_MAX = 2**63 - 1

ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Product:
    """A stored product."""

    id: str
    sku: str
    title: str
    description: str
    category: str
    price: Money
    stock: int
    create_time: datetime
    update_time: datetime
    etag: str

    @property
    def name(self) -> str:
        return NAME_PREFIX + self.id


#: A stored product's fields, flattened, in one order: the table's columns (``storage``
#: selects and inserts them by these names) and the cache codec's array (``caching``).
COLUMNS = (
    "id",
    "sku",
    "title",
    "description",
    "category",
    "currency_code",
    "price_units",
    "price_nanos",
    "stock",
    "create_time",
    "update_time",
    "etag",
)
#: The timestamp columns: the database's clock sets them on insert; ISO 8601 in the cache.
TIMESTAMP_COLUMNS = frozenset({"create_time", "update_time"})


def product_values(product: Product) -> tuple[Any, ...]:
    """``product``'s fields flattened in :data:`COLUMNS` order."""
    price = product.price
    return (
        product.id,
        product.sku,
        product.title,
        product.description,
        product.category,
        price.currency_code,
        price.units,
        price.nanos,
        product.stock,
        product.create_time,
        product.update_time,
        product.etag,
    )


def product_from_values(values: Sequence[Any]) -> Product:
    """The inverse of :func:`product_values` (a database row or a decoded cache entry)."""
    (pid, sku, title, desc, cat, cur, units, nanos, stock, created, updated, etag) = values
    return Product(
        pid, sku, title, desc, cat, Money(cur, units, nanos), stock, created, updated, etag
    )


@dataclass(frozen=True, slots=True)
class ProductFields:
    """The client-settable fields of a product, as they arrive in a request."""

    sku: str = ""
    title: str = ""
    description: str = ""
    category: str = ""
    price: Money | None = None
    stock: int = 0


# --- validation -----------------------------------------------------------------------------


def parse_name(name: str, field_path: str = "name") -> str:
    """``products/{id}`` → ``id``, or INVALID_ARGUMENT naming ``field_path``."""
    if not name:
        raise invalid_argument([FieldViolation(field_path, "is required")])
    if not name.startswith(NAME_PREFIX) or not ID_PATTERN.match(name[len(NAME_PREFIX) :]):
        raise invalid_argument(
            [
                FieldViolation(
                    field_path,
                    f"{name!r} is not a product name: expected products/{{id}} where id is "
                    "1-63 lowercase letters, digits or '-'",
                )
            ]
        )
    return name[len(NAME_PREFIX) :]


def _check_money(price: Money, path: str) -> list[FieldViolation]:
    problems = []
    if not CURRENCY_CODE.match(price.currency_code):
        problems.append(
            FieldViolation(
                f"{path}.currency_code",
                f"must be a three-letter ISO 4217 code such as USD, got {price.currency_code!r}",
            )
        )
    if price.units < 0:
        problems.append(FieldViolation(f"{path}.units", "must not be negative"))
    if price.nanos < 0:
        problems.append(FieldViolation(f"{path}.nanos", "must not be negative"))
    elif price.nanos >= NANOS_PER_UNIT:
        problems.append(FieldViolation(f"{path}.nanos", "must be below 1,000,000,000"))
    return problems


def field_violations(
    fields: ProductFields, paths: Iterable[str], prefix: str
) -> list[FieldViolation]:
    """Check the named fields of ``fields``; ``paths`` use the mask's vocabulary."""
    problems: list[FieldViolation] = []
    wanted = set(paths)
    if "sku" in wanted and not _SKU.match(fields.sku):
        problems.append(
            FieldViolation(
                f"{prefix}sku",
                "is required"
                if not fields.sku
                else "must be 1-64 letters, digits, '.', '_' or '-'",
            )
        )
    if "title" in wanted:
        if not fields.title.strip():
            problems.append(FieldViolation(f"{prefix}title", "must not be empty"))
        elif len(fields.title) > 200:
            problems.append(FieldViolation(f"{prefix}title", "must be at most 200 characters"))
    if "description" in wanted and len(fields.description) > 10_000:
        problems.append(FieldViolation(f"{prefix}description", "must be at most 10,000 characters"))
    if "category" in wanted and len(fields.category) > 100:
        problems.append(FieldViolation(f"{prefix}category", "must be at most 100 characters"))
    for name in ("title", "description", "category"):
        # PostgreSQL text cannot hold U+0000: refused here, not failed in the database
        if name in wanted and "\x00" in getattr(fields, name):
            problems.append(FieldViolation(f"{prefix}{name}", "must not contain U+0000 (NUL)"))
    if "stock" in wanted and fields.stock < 0:
        problems.append(FieldViolation(f"{prefix}stock", "must not be negative"))
    if "price" in wanted:
        if fields.price is None:
            problems.append(FieldViolation(f"{prefix}price", "is required"))
        else:
            problems.extend(_check_money(fields.price, f"{prefix}price"))
    else:
        # Partial price paths (price.units…): check only the parts named.
        price = fields.price or Money("")
        named = {p.split(".", 1)[1] for p in wanted if p.startswith("price.")}
        problems.extend(
            v for v in _check_money(price, f"{prefix}price") if v.field.rsplit(".", 1)[1] in named
        )
    return problems


# --- update masks ----------------------------------------------------------------------------

UPDATABLE_PATHS = (
    "sku",
    "title",
    "description",
    "category",
    "price",
    "price.currency_code",
    "price.units",
    "price.nanos",
    "stock",
)
OUTPUT_ONLY_PATHS = ("name", "create_time", "update_time", "etag")


def check_mask_paths(paths: Sequence[str], updatable: Sequence[str]) -> None:
    """INVALID_ARGUMENT on ``update_mask`` naming each path that is neither ``*``, one of
    ``updatable`` (an API version's words) nor output-only."""
    unknown = [p for p in paths if p != "*" and p not in updatable and p not in OUTPUT_ONLY_PATHS]
    if unknown:
        raise invalid_argument(
            [
                FieldViolation(
                    "update_mask",
                    f"unknown field {p!r}; updatable fields are " + ", ".join(updatable),
                )
                for p in unknown
            ]
        )


def resolve_mask(paths: Sequence[str] | None, fields: ProductFields) -> list[str]:
    """The updatable paths an update touches.

    ``None`` (no mask) means every field the request populated; ``*`` means all
    updatable fields; output-only paths are ignored (a client may send back the
    whole resource it read); an unknown path is INVALID_ARGUMENT on ``update_mask``.
    """
    if paths is None:
        populated = [
            name
            for name in ("sku", "title", "description", "category", "stock")
            if getattr(fields, name)
        ]
        return [*populated, "price"] if fields.price is not None else populated
    if "*" in paths:
        if len(paths) > 1:
            raise invalid_argument(
                [FieldViolation("update_mask", "'*' must be the only path when it is used")]
            )
        return [p for p in UPDATABLE_PATHS if not p.startswith("price.")]
    check_mask_paths(paths, UPDATABLE_PATHS)
    resolved = list(dict.fromkeys(p for p in paths if p in UPDATABLE_PATHS))
    if "price" in resolved:
        resolved = [p for p in resolved if not p.startswith("price.")]
    return resolved
