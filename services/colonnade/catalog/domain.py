"""The catalog's use cases over a product repository. No gRPC, no storage, no cache here.

The model and its validation live in :mod:`~colonnade.catalog.model`, the list grammar in
:mod:`~colonnade.catalog.filters`, page tokens in :mod:`~colonnade.catalog.pagetokens`;
caching is a repository wrapper (:mod:`~colonnade.catalog.caching`).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from colonnade.catalog.filters import (
    V1_VOCABULARY,
    Condition,
    ListVocabulary,
    SortKey,
    parse_filter,
    parse_order_by,
)
from colonnade.catalog.model import (
    ID_PATTERN,
    RESOURCE_TYPE,
    Money,
    Product,
    ProductFields,
    field_violations,
    parse_name,
    resolve_mask,
)
from colonnade.catalog.pagetokens import decode_page_token, encode_page_token
from colonnade.runtime import pagetokens
from colonnade.runtime.errors import (
    DomainError,
    FieldViolation,
    etag_mismatch,
    invalid_argument,
    not_found,
)

__all__ = [
    "Catalog",
    "ListQuery",
    "Money",
    "Product",
    "ProductFields",
    "ProductRepository",
    "build_list_query",
    "new_etag",
]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated ``ListProducts`` request."""

    page_size: int
    conditions: tuple[Condition, ...] = ()
    order: tuple[SortKey, ...] = (SortKey("create_time"),)
    after: tuple[Any, ...] | None = None  # sort-key values and id of the last row seen
    fingerprint: str = ""


def build_list_query(
    page_size: int,
    page_token: str,
    filter_text: str,
    order_by: str,
    vocabulary: ListVocabulary = V1_VOCABULARY,
) -> ListQuery:
    """Validate a list request, reporting every bad field at once.

    ``filter_text`` and ``order_by`` name fields in ``vocabulary``'s words (an API version's).
    """
    problems: list[FieldViolation] = []
    if page_size < 0 or page_size > MAX_PAGE_SIZE:
        problems.append(FieldViolation("page_size", f"must be between 0 and {MAX_PAGE_SIZE}"))
    conditions: tuple[Condition, ...] = ()
    order: tuple[SortKey, ...] = ()
    try:
        conditions = parse_filter(filter_text, vocabulary)
    except DomainError as exc:
        problems.extend(exc.violations)
    try:
        order = parse_order_by(order_by, vocabulary)
    except DomainError as exc:
        problems.extend(exc.violations)
    fingerprint = pagetokens.fingerprint(filter_text.strip(), order_by.strip())
    after = None
    if page_token and order:
        try:
            after = decode_page_token(page_token, order, fingerprint)
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
    """A fresh etag for a product that changed."""
    return secrets.token_hex(8)


@dataclass
class Catalog:
    """The catalog's use cases over a repository (cached or not: the use cases cannot tell)."""

    repository: ProductRepository

    async def get(self, name: str) -> Product:
        """The product named ``name``, or NOT_FOUND."""
        product = await self.repository.get(parse_name(name))
        if product is None:
            raise not_found(RESOURCE_TYPE, name)
        return product

    async def list(
        self,
        page_size: int,
        page_token: str,
        filter_text: str,
        order_by: str,
        vocabulary: ListVocabulary = V1_VOCABULARY,
    ) -> tuple[list[Product], str]:
        """One page of products and the token of the next (empty on the last page).

        ``vocabulary`` is the calling API version's names for the filter and order fields.
        """
        query = build_list_query(page_size, page_token, filter_text, order_by, vocabulary)
        rows = await self.repository.list(query, query.page_size + 1)
        if len(rows) > query.page_size:
            rows = rows[: query.page_size]
            return rows, encode_page_token(query, rows[-1])
        return rows, ""

    async def create(
        self,
        fields: ProductFields,
        product_id: str = "",
        problems: Sequence[FieldViolation] = (),
    ) -> Product:
        """Validate every field at once, then insert; the server picks an id when none is given.

        ``problems`` are bad fields found while converting the request (a v2 price amount that
        does not parse), reported together with the ones found here.
        """
        found = [
            *problems,
            *field_violations(
                fields, ("sku", "title", "description", "category", "stock", "price"), "product."
            ),
        ]
        if product_id and not ID_PATTERN.match(product_id):
            found.append(
                FieldViolation(
                    "product_id",
                    "must be 1-63 lowercase letters, digits or '-', "
                    "starting and ending with a letter or digit",
                )
            )
        if found:
            raise invalid_argument(found)
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
        self,
        name: str,
        fields: ProductFields,
        mask: Sequence[str] | None,
        etag: str,
        problems: Sequence[FieldViolation] = (),
    ) -> Product:
        """Change the fields ``mask`` names (see :func:`resolve_mask`), guarded by ``etag``.

        ``problems``: bad fields found converting the request, as in :meth:`create`.
        """
        found = list(problems)
        try:
            product_id = parse_name(name, "product.name")
        except DomainError as exc:
            found.extend(exc.violations)
            product_id = ""
        paths = resolve_mask(mask, fields)
        found.extend(field_violations(fields, paths, "product."))
        if found:
            raise invalid_argument(found)
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
        return await self.repository.update(product_id, changes, etag or None, new_etag())

    async def delete(self, name: str, etag: str = "") -> None:
        """Delete the product, guarded by ``etag`` when it is given."""
        product_id = parse_name(name)
        await self.repository.delete(product_id, etag or None)
