"""The catalog's domain rules, without gRPC, PostgreSQL or memcached."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from colonnade.catalog.caching import decode_product, encode_product
from colonnade.catalog.domain import Catalog, ListQuery, build_list_query
from colonnade.catalog.filters import Condition, SortKey, parse_filter, parse_order_by
from colonnade.catalog.model import Money, Product, ProductFields, parse_name, resolve_mask
from colonnade.catalog.pagetokens import encode_page_token
from colonnade.catalog.storage import build_list_sql
from colonnade.runtime.errors import Code, DomainError


def violations(exc: pytest.ExceptionInfo[DomainError]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


def product(**changes: object) -> Product:
    values: dict[str, object] = dict(
        id="p1",
        sku="SKU-1",
        title="Title",
        description="",
        category="books",
        price=Money("EUR", 10, 500_000_000),
        stock=1,
        create_time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        update_time=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        etag="e1",
    )
    values.update(changes)
    return Product(**values)  # type: ignore[arg-type]


class RecordingRepository:
    """A repository that records inserts: enough to test validation order."""

    def __init__(self) -> None:
        self.inserted: list[Product] = []

    async def insert(self, p: Product) -> Product:
        self.inserted.append(p)
        return p


@pytest.mark.parametrize("name", ["products/abc", "products/a", "products/9f1c-22"])
def test_parse_name_accepts_resource_names(name: str) -> None:
    assert parse_name(name) == name.split("/")[1]


@pytest.mark.parametrize(
    "name", ["", "abc", "products/", "products/ABC", "products/a/b", "shelves/a", "products/-a"]
)
def test_parse_name_rejects_malformed_names(name: str) -> None:
    with pytest.raises(DomainError) as exc:
        parse_name(name, "product.name")
    assert exc.value.code is Code.INVALID_ARGUMENT
    assert "product.name" in violations(exc)


async def test_create_reports_every_bad_field_at_once() -> None:
    repo = RecordingRepository()
    catalog = Catalog(repo)  # type: ignore[arg-type]
    bad = ProductFields(sku="", title="  ", price=Money("eur", -1, -5), stock=-3)
    with pytest.raises(DomainError) as exc:
        await catalog.create(bad, product_id="Bad_Id")
    found = violations(exc)
    assert set(found) == {
        "product.sku",
        "product.title",
        "product.stock",
        "product.price.currency_code",
        "product.price.units",
        "product.price.nanos",
        "product_id",
    }
    assert found["product.stock"] == "must not be negative"
    assert repo.inserted == []  # nothing written when anything is wrong


async def test_create_requires_a_price() -> None:
    catalog = Catalog(RecordingRepository())  # type: ignore[arg-type]
    with pytest.raises(DomainError) as exc:
        await catalog.create(ProductFields(sku="A", title="T"))
    assert violations(exc) == {"product.price": "is required"}


def test_mask_missing_means_populated_fields() -> None:
    fields = ProductFields(title="New", price=Money("EUR", 1))
    assert resolve_mask(None, fields) == ["title", "price"]


def test_mask_star_means_every_updatable_field() -> None:
    assert resolve_mask(["*"], ProductFields()) == [
        "sku",
        "title",
        "description",
        "category",
        "price",
        "stock",
    ]


def test_mask_ignores_output_only_and_rejects_unknown_fields() -> None:
    assert resolve_mask(["title", "etag", "create_time", "name"], ProductFields()) == ["title"]
    with pytest.raises(DomainError) as exc:
        resolve_mask(["title", "colour"], ProductFields())
    assert "colour" in violations(exc)["update_mask"]


def test_mask_price_subfields_collapse_under_price() -> None:
    assert resolve_mask(["price.units", "price"], ProductFields()) == ["price"]
    assert resolve_mask(["price.units"], ProductFields()) == ["price.units"]


def test_filter_grammar() -> None:
    assert parse_filter('category = "books" AND price >= 10 AND price < 20.5') == (
        Condition("category", "=", "books"),
        Condition("price", ">=", (10, 0)),
        Condition("price", "<", (20, 500_000_000)),
    )
    assert parse_filter(' category != "a \\"b\\"" ') == (Condition("category", "!=", 'a "b"'),)
    assert parse_filter("") == ()


@pytest.mark.parametrize(
    "text",
    [
        "colour = 1",
        'category > "a"',
        "category = books",
        'price = "ten"',
        "price >= 1.0000000001",
        'category = "a" OR price > 1',
        "price >=",
        "price > -1",
        "category =",
        '"books"',
    ],
)
def test_filter_errors_name_the_filter(text: str) -> None:
    with pytest.raises(DomainError) as exc:
        parse_filter(text)
    assert list(violations(exc)) == ["filter"]


def test_order_by() -> None:
    assert parse_order_by("") == (SortKey("create_time"),)
    assert parse_order_by("price desc, title") == (SortKey("price", True), SortKey("title"))
    for bad in ("colour", "price sideways", "title, title", "price desc desc", ","):
        with pytest.raises(DomainError) as exc:
            parse_order_by(bad)
        assert list(violations(exc)) == ["order_by"]


def test_list_query_reports_all_bad_fields() -> None:
    with pytest.raises(DomainError) as exc:
        build_list_query(-1, "garbage!", "colour = 1", "nope")
    assert set(violations(exc)) == {"page_size", "filter", "order_by"}
    with pytest.raises(DomainError) as exc:
        build_list_query(1001, "", "", "")
    assert set(violations(exc)) == {"page_size"}


def test_page_token_round_trip_and_tampering() -> None:
    query = build_list_query(10, "", 'category = "books"', "price desc")
    token = encode_page_token(query, product())
    again = build_list_query(10, token, 'category = "books"', "price desc")
    assert again.after == (10, 500_000_000, "p1")
    with pytest.raises(DomainError) as exc:
        build_list_query(10, token, 'category = "toys"', "price desc")
    assert "different filter" in violations(exc)["page_token"]
    with pytest.raises(DomainError) as exc:
        build_list_query(10, token[:-4] + "AAAA", 'category = "books"', "price desc")
    assert "page_token" in violations(exc)
    with pytest.raises(DomainError):
        build_list_query(10, "%%%", "", "")


def test_default_page_size() -> None:
    assert build_list_query(0, "", "", "").page_size == 50


def test_list_sql_uses_parameters_and_a_keyset() -> None:
    query = ListQuery(
        page_size=10,
        conditions=(Condition("category", "=", "x'; DROP TABLE products; --"),),
        order=(SortKey("price", True), SortKey("title")),
        after=(10, 5, "Title", "p1"),
    )
    sql, params = build_list_sql(query, 11)
    assert "DROP" not in sql
    assert params[0] == "x'; DROP TABLE products; --"
    assert "ORDER BY price_units DESC, price_nanos DESC, title ASC, id ASC" in sql
    assert "(price_units < $2)" in sql  # first alternative of the keyset
    assert params[-1] == 11


def test_cache_encoding_round_trip() -> None:
    original = product(description="ünïcode ✓")
    assert decode_product(encode_product(original)) == original
