"""A few products so a fresh local stack has something to show. Idempotent."""

from __future__ import annotations

from colonnade.catalog.domain import Catalog, Money, ProductFields
from colonnade.catalog.storage import PostgresProductRepository
from colonnade.runtime.db import create_pool
from colonnade.runtime.errors import Code, DomainError
from colonnade.runtime.settings import Settings

SEED_PRODUCTS: dict[str, ProductFields] = {
    "fountain-pen": ProductFields(
        sku="PEN-001",
        title="Fountain pen",
        description="Steel nib, refillable converter.",
        category="stationery",
        price=Money("EUR", 24, 500_000_000),
        stock=120,
    ),
    "notebook-a5": ProductFields(
        sku="NB-A5-DOT",
        title="A5 dotted notebook",
        description="192 pages of 100 g/m² paper.",
        category="stationery",
        price=Money("EUR", 12, 0),
        stock=300,
    ),
    "design-book": ProductFields(
        sku="BK-0042",
        title="The Design of Everyday Things",
        description="Don Norman, revised and expanded edition.",
        category="books",
        price=Money("EUR", 18, 990_000_000),
        stock=40,
    ),
    "desk-lamp": ProductFields(
        sku="LAMP-7",
        title="Desk lamp",
        description="Warm LED, adjustable arm.",
        category="home",
        price=Money("EUR", 59, 0),
        stock=15,
    ),
}


async def seed(settings: Settings) -> int:
    """Create the seed products that are missing; return how many were created."""
    pool = await create_pool(settings)
    created = 0
    try:
        catalog = Catalog(PostgresProductRepository(pool))
        for product_id, fields in SEED_PRODUCTS.items():
            try:
                await catalog.create(fields, product_id)
                created += 1
            except DomainError as exc:
                if exc.code is not Code.ALREADY_EXISTS:
                    raise
    finally:
        await pool.close()
    return created
