"""The catalog's domain: products, their rules, and the use cases. No gRPC here.

Field paths in errors are the request's own (``product.price.units``), so the
servicer can pass them to clients unchanged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import orjson

from colonnade.runtime.cache import ReadThroughCache
from colonnade.runtime.errors import (
    DomainError,
    FieldViolation,
    etag_mismatch,
    invalid_argument,
    not_found,
)

RESOURCE_TYPE = "catalog.colonnade.dev/Product"
NAME_PREFIX = "products/"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
NANOS_PER_UNIT = 1_000_000_000
INT64_MAX = 2**63 - 1

_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_SKU = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency, as ``google.type.Money``: units plus nanos (10^-9)."""

    currency_code: str
    units: int = 0
    nanos: int = 0

    @property
    def amount(self) -> Decimal:
        return Decimal(self.units) + Decimal(self.nanos) / NANOS_PER_UNIT


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
    if not name.startswith(NAME_PREFIX) or not _ID.match(name[len(NAME_PREFIX) :]):
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
    if not _CURRENCY.match(price.currency_code):
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


def _field_violations(
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
    unknown = [p for p in paths if p not in UPDATABLE_PATHS and p not in OUTPUT_ONLY_PATHS]
    if unknown:
        raise invalid_argument(
            [
                FieldViolation(
                    "update_mask",
                    f"unknown field {p!r}; updatable fields are " + ", ".join(UPDATABLE_PATHS),
                )
                for p in unknown
            ]
        )
    resolved = list(dict.fromkeys(p for p in paths if p in UPDATABLE_PATHS))
    if "price" in resolved:
        resolved = [p for p in resolved if not p.startswith("price.")]
    return resolved


# --- listing: filter, order, page tokens -----------------------------------------------------

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


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated ``ListProducts`` request."""

    page_size: int
    conditions: tuple[Condition, ...] = ()
    order: tuple[SortKey, ...] = (SortKey("create_time"),)
    after: tuple[Any, ...] | None = None  # sort-key values and id of the last row seen
    fingerprint: str = ""


def _fingerprint(filter_text: str, order_by: str) -> str:
    return hashlib.sha256(f"{filter_text}\x00{order_by}".encode()).hexdigest()[:16]


def sort_values(product: Product, order: Sequence[SortKey]) -> list[Any]:
    """The values a page token records for ``product``: each sort key, then the id."""
    values: list[Any] = []
    for key in order:
        if key.field == "price":
            values.extend([product.price.units, product.price.nanos])
        else:
            values.append(getattr(product, key.field))
    values.append(product.id)
    return values


def encode_page_token(query: ListQuery, last: Product) -> str:
    payload = [
        v.isoformat() if isinstance(v, datetime) else v for v in sort_values(last, query.order)
    ]
    raw = orjson.dumps({"v": 1, "q": query.fingerprint, "k": payload})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page_token(token: str, order: Sequence[SortKey], fingerprint: str) -> tuple[Any, ...]:
    bad = invalid_argument([FieldViolation("page_token", "is not a token this API returned")])
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("k"), list):
        raise bad
    if data.get("q") != fingerprint:
        raise invalid_argument(
            [FieldViolation("page_token", "was issued for a different filter or order_by")]
        )
    raw = data["k"]
    expected: list[type] = []
    for key in order:
        if key.field == "price":
            expected += [int, int]
        elif key.field in ("stock",):
            expected.append(int)
        elif key.field in ("create_time", "update_time"):
            expected.append(datetime)
        else:
            expected.append(str)
    expected.append(str)
    if len(raw) != len(expected):
        raise bad
    values: list[Any] = []
    for value, kind in zip(raw, expected, strict=True):
        if kind is datetime:
            try:
                values.append(datetime.fromisoformat(value))
            except (TypeError, ValueError):
                raise bad from None
        elif type(value) is not kind:
            raise bad
        else:
            values.append(value)
    return tuple(values)


def build_list_query(page_size: int, page_token: str, filter_text: str, order_by: str) -> ListQuery:
    """Validate a list request, reporting every bad field at once."""
    problems: list[FieldViolation] = []
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
    conditions: tuple[Condition, ...] = ()
    order: tuple[SortKey, ...] = ()
    try:
        conditions = parse_filter(filter_text)
    except DomainError as exc:
        problems.extend(exc.violations)
    try:
        order = parse_order_by(order_by)
    except DomainError as exc:
        problems.extend(exc.violations)
    fingerprint = _fingerprint(filter_text.strip(), order_by.strip())
    after = None
    if page_token and order:
        try:
            after = _decode_page_token(page_token, order, fingerprint)
        except DomainError as exc:
            problems.extend(exc.violations)
    if problems:
        raise invalid_argument(problems)
    return ListQuery(
        page_size=page_size or DEFAULT_PAGE_SIZE,
        conditions=conditions,
        order=order,
        after=after,
        fingerprint=fingerprint,
    )


# --- storage port and use cases --------------------------------------------------------------


class ProductRepository(Protocol):
    """What the catalog needs from storage (implemented on asyncpg in ``storage``)."""

    async def get(self, product_id: str) -> Product | None: ...

    async def insert(self, product: Product) -> Product: ...

    async def update(
        self, product_id: str, changes: dict[str, Any], expected_etag: str | None, new_etag: str
    ) -> Product: ...

    async def delete(self, product_id: str, expected_etag: str | None) -> None: ...

    async def list(self, query: ListQuery, limit: int) -> list[Product]: ...


def new_etag() -> str:
    return secrets.token_hex(8)


def encode_product(product: Product) -> bytes:
    """Compact bytes for the cache."""
    return orjson.dumps(
        [
            product.id,
            product.sku,
            product.title,
            product.description,
            product.category,
            product.price.currency_code,
            product.price.units,
            product.price.nanos,
            product.stock,
            product.create_time.isoformat(),
            product.update_time.isoformat(),
            product.etag,
        ]
    )


def decode_product(data: bytes) -> Product:
    (pid, sku, title, desc, cat, cur, units, nanos, stock, created, updated, etag) = orjson.loads(
        data
    )
    return Product(
        pid,
        sku,
        title,
        desc,
        cat,
        Money(cur, units, nanos),
        stock,
        datetime.fromisoformat(created),
        datetime.fromisoformat(updated),
        etag,
    )


@dataclass
class Catalog:
    """The catalog's use cases over a repository and an optional read-through cache."""

    repository: ProductRepository
    cache: ReadThroughCache[Product] | None = None

    async def get(self, name: str) -> Product:
        product_id = parse_name(name)
        if self.cache is not None:
            product = await self.cache.get_or_load(
                product_id, lambda: self.repository.get(product_id)
            )
        else:
            product = await self.repository.get(product_id)
        if product is None:
            raise not_found(RESOURCE_TYPE, name)
        return product

    async def list(
        self, page_size: int, page_token: str, filter_text: str, order_by: str
    ) -> tuple[list[Product], str]:
        query = build_list_query(page_size, page_token, filter_text, order_by)
        rows = await self.repository.list(query, query.page_size + 1)
        if len(rows) > query.page_size:
            rows = rows[: query.page_size]
            return rows, encode_page_token(query, rows[-1])
        return rows, ""

    async def create(self, fields: ProductFields, product_id: str = "") -> Product:
        problems = _field_violations(
            fields, ("sku", "title", "description", "category", "stock", "price"), "product."
        )
        if product_id and not _ID.match(product_id):
            problems.append(
                FieldViolation(
                    "product_id",
                    "must be 1-63 lowercase letters, digits or '-', "
                    "starting and ending with a letter or digit",
                )
            )
        if problems:
            raise invalid_argument(problems)
        assert fields.price is not None
        epoch = datetime.fromtimestamp(0).astimezone()  # replaced by the database's clock
        return await self.repository.insert(
            Product(
                id=product_id or str(uuid.uuid4()),
                sku=fields.sku,
                title=fields.title,
                description=fields.description,
                category=fields.category,
                price=fields.price,
                stock=fields.stock,
                create_time=epoch,
                update_time=epoch,
                etag=new_etag(),
            )
        )

    async def update(
        self, name: str, fields: ProductFields, mask: Sequence[str] | None, etag: str
    ) -> Product:
        problems: list[FieldViolation] = []
        try:
            product_id = parse_name(name, "product.name")
        except DomainError as exc:
            problems.extend(exc.violations)
            product_id = ""
        paths = resolve_mask(mask, fields)
        problems.extend(_field_violations(fields, paths, "product."))
        if problems:
            raise invalid_argument(problems)
        changes: dict[str, Any] = {}
        for path in paths:
            if path == "price":
                assert fields.price is not None
                changes["currency_code"] = fields.price.currency_code
                changes["price_units"] = fields.price.units
                changes["price_nanos"] = fields.price.nanos
            elif path.startswith("price."):
                sub = path.split(".", 1)[1]
                price = fields.price or Money("")
                column = "currency_code" if sub == "currency_code" else f"price_{sub}"
                changes[column] = getattr(price, sub)
            else:
                changes[path] = getattr(fields, path)
        if not changes:
            product = await self.get(name)
            if etag and etag != product.etag:
                raise etag_mismatch(RESOURCE_TYPE, name)
            return product
        updated = await self.repository.update(product_id, changes, etag or None, new_etag())
        if self.cache is not None:
            await self.cache.invalidate(product_id)
        return updated

    async def delete(self, name: str, etag: str = "") -> None:
        product_id = parse_name(name)
        await self.repository.delete(product_id, etag or None)
        if self.cache is not None:
            await self.cache.invalidate(product_id)
