"""The catalog's page tokens: which sort-key values of a product a token records.

The token format itself (opaque, bound to its query) is :mod:`colonnade.runtime.pagetokens`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from colonnade.catalog.filters import SortKey
from colonnade.catalog.model import Product
from colonnade.runtime import pagetokens

if TYPE_CHECKING:
    from colonnade.catalog.domain import ListQuery

# Sort field → the types of the values it records (price records units and nanos).
_KINDS: dict[str, tuple[type, ...]] = {
    "price": (int, int),
    "stock": (int,),
    "create_time": (datetime,),
    "update_time": (datetime,),
}


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
    """The token of the page after ``last``, the last product of a page of ``query``."""
    return pagetokens.encode_page_token(query.fingerprint, sort_values(last, query.order))


def decode_page_token(token: str, order: Sequence[SortKey], fingerprint: str) -> tuple[Any, ...]:
    """The sort-key values and id ``token`` recorded, or INVALID_ARGUMENT on ``page_token``."""
    kinds = [kind for key in order for kind in _KINDS.get(key.field, (str,))]
    return pagetokens.decode_page_token(token, fingerprint, [*kinds, str])
