"""The gRPC face of catalog v2: v2 proto ⇄ the same domain as v1, nothing else.

v2 differs from v1 in words only, so everything v2 says is translated here and the
:class:`~colonnade.catalog.domain.Catalog` (and the table behind it) stays one:

* ``display_name`` is the domain's ``title``: in products, update masks, ``filter`` and
  ``order_by`` (:data:`V2_VOCABULARY`), and in the field paths of errors;
* ``price`` is a :class:`~colonnade.runtime.money.Money` written as a decimal string
  (``Price.amount``, :func:`~colonnade.runtime.money.parse_amount`); mask path
  ``price.amount`` is the domain's ``price.units`` and ``price.nanos`` together, and errors
  on either are reported on ``product.price.amount``.

Stock reservations are v1 only (internal to the services), so this servicer has none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import grpc
from google.protobuf import empty_pb2

from colonnade.catalog.domain import Catalog
from colonnade.catalog.filters import SORT_FIELDS, ListVocabulary
from colonnade.catalog.model import NAME_PREFIX, Money, Product, ProductFields, check_mask_paths
from colonnade.catalog.v2 import catalog_pb2, catalog_pb2_grpc
from colonnade.runtime.errors import Code, DomainError, FieldViolation, invalid_argument
from colonnade.runtime.money import AmountError, format_amount, parse_amount
from colonnade.runtime.responses import ByIdentity, set_timestamp

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
T = TypeVar("T")

#: v2's names for what ``filter`` and ``order_by`` accept, mapped to the domain's.
V2_VOCABULARY = ListVocabulary(
    filter_fields={"display_name": "title", "category": "category", "price": "price"},
    sort_fields={("display_name" if f == "title" else f): f for f in SORT_FIELDS},
    example='display_name = "Teapot"',
)

#: v2 update-mask path → the domain's paths (``model.UPDATABLE_PATHS``).
MASK_PATHS: dict[str, tuple[str, ...]] = {
    "sku": ("sku",),
    "display_name": ("title",),
    "description": ("description",),
    "category": ("category",),
    "price": ("price",),
    "price.amount": ("price.units", "price.nanos"),
    "price.currency_code": ("price.currency_code",),
    "stock": ("stock",),
}

AMOUNT_FIELD = "product.price.amount"
#: The domain's field paths in errors → v2's.
_ERROR_FIELDS = {
    "product.title": "product.display_name",
    "product.price.units": AMOUNT_FIELD,
    "product.price.nanos": AMOUNT_FIELD,
}


def product_to_proto(product: Product) -> catalog_pb2.Product:
    """A domain product as v2 shows it."""
    message = catalog_pb2.Product(
        name=NAME_PREFIX + product.id,
        sku=product.sku,
        display_name=product.title,
        description=product.description,
        category=product.category,
        stock=product.stock,
        etag=product.etag,
    )
    # Sub-messages filled in place (v1's product_to_proto says why).
    price, target = product.price, message.price
    target.amount = format_amount(price.units, price.nanos)
    target.currency_code = price.currency_code
    set_timestamp(message.create_time, product.create_time)
    set_timestamp(message.update_time, product.update_time)
    return message


def fields_from_proto(message: catalog_pb2.Product) -> tuple[ProductFields, FieldViolation | None]:
    """The domain fields of a v2 product, and the amount's problem if it does not parse.

    An amount that does not parse counts as zero here, so the rest is still validated and
    every bad field is reported at once; the caller decides whether the amount matters.
    """
    price = None
    problem = None
    if message.HasField("price"):
        try:
            units, nanos = parse_amount(message.price.amount)
        except AmountError as exc:
            units, nanos = 0, 0
            problem = FieldViolation(AMOUNT_FIELD, str(exc))
        price = Money(message.price.currency_code, units, nanos)
    fields = ProductFields(
        sku=message.sku,
        title=message.display_name,
        description=message.description,
        category=message.category,
        price=price,
        stock=message.stock,
    )
    return fields, problem


def domain_mask(paths: Sequence[str]) -> list[str]:
    """v2 update-mask paths → the domain's; INVALID_ARGUMENT on ``update_mask`` naming unknown ones.

    ``*`` and the output-only paths pass through: the domain treats them as v1 does.
    """
    check_mask_paths(paths, list(MASK_PATHS))
    return [domain for p in paths for domain in MASK_PATHS.get(p, (p,))]


def _writes_amount(paths: Sequence[str] | None, message: catalog_pb2.Product) -> bool:
    """Whether an update with these v2 mask paths writes the price's amount."""
    if paths is None:
        return message.HasField("price")
    return bool({"*", "price", "price.amount"} & set(paths))


def in_v2_terms(error: DomainError) -> DomainError:
    """``error`` with its field paths renamed to v2's (the message rebuilt from them)."""
    if error.code is not Code.INVALID_ARGUMENT or not error.violations:
        return error
    renamed = (
        FieldViolation(_ERROR_FIELDS.get(v.field, v.field), v.description) for v in error.violations
    )
    return invalid_argument(dict.fromkeys(renamed))


async def _v2(call: Awaitable[T]) -> T:
    """Await a domain call, translating its errors into v2's words."""
    try:
        return await call
    except DomainError as exc:
        raise in_v2_terms(exc) from None


class CatalogServicerV2(catalog_pb2_grpc.CatalogServiceServicer):  # type: ignore[misc]
    """Implements ``colonnade.catalog.v2.CatalogService`` on the same :class:`Catalog` as v1."""

    def __init__(self, catalog: Catalog, *, shared_products: bool = True) -> None:
        self._catalog = catalog
        # A product from the cache's hot entries is the same object call after call.
        self._product_proto = ByIdentity.when(shared_products, product_to_proto)

    async def GetProduct(
        self, request: catalog_pb2.GetProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        return self._product_proto(await _v2(self._catalog.get(request.name)))

    async def ListProducts(
        self, request: catalog_pb2.ListProductsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.ListProductsResponse:
        products, token = await _v2(
            self._catalog.list(
                request.page_size,
                request.page_token,
                request.filter,
                request.order_by,
                V2_VOCABULARY,
            )
        )
        return catalog_pb2.ListProductsResponse(
            products=[product_to_proto(p) for p in products], next_page_token=token
        )

    async def CreateProduct(
        self, request: catalog_pb2.CreateProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        fields, problem = fields_from_proto(request.product)
        created = await _v2(
            self._catalog.create(fields, request.product_id, [problem] if problem else [])
        )
        return product_to_proto(created)

    async def UpdateProduct(
        self, request: catalog_pb2.UpdateProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> catalog_pb2.Product:
        paths = list(request.update_mask.paths) if request.HasField("update_mask") else None
        fields, problem = fields_from_proto(request.product)
        problems = [problem] if problem and _writes_amount(paths, request.product) else []
        try:
            mask = None if paths is None else domain_mask(paths)
        except DomainError as exc:
            raise invalid_argument([*problems, *exc.violations]) from None
        updated = await _v2(
            self._catalog.update(request.product.name, fields, mask, request.product.etag, problems)
        )
        return product_to_proto(updated)

    async def DeleteProduct(
        self, request: catalog_pb2.DeleteProductRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> empty_pb2.Empty:
        await _v2(self._catalog.delete(request.name, request.etag))
        return empty_pb2.Empty()
