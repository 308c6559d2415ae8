"""Catalog v2's translation to the shared domain: decimal amounts, names, masks, errors.

No gRPC server, PostgreSQL or memcached: the servicer's conversions are plain functions,
and its methods run on a recording repository (a call that reaches it would have written).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from hypothesis import given
from hypothesis import strategies as st

from colonnade.catalog.domain import Catalog, ListQuery, build_list_query
from colonnade.catalog.filters import Condition, SortKey, parse_filter, parse_order_by
from colonnade.catalog.model import Money, Product
from colonnade.catalog.servicer_v2 import (
    V2_VOCABULARY,
    CatalogServicerV2,
    domain_mask,
    fields_from_proto,
    in_v2_terms,
    product_to_proto,
)
from colonnade.catalog.storage import build_list_sql
from colonnade.catalog.v2 import catalog_pb2
from colonnade.runtime.errors import Code, DomainError, FieldViolation, invalid_argument
from colonnade.runtime.money import NANOS_PER_UNIT, AmountError, format_amount, parse_amount
from tests.unit.test_domain import product, violations

INT64_MAX = 2**63 - 1


# --- decimal amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units", "nanos"),
    [
        ("12.50", 12, 500_000_000),
        ("12.5", 12, 500_000_000),
        ("0", 0, 0),
        ("-0", 0, 0),
        ("007.010", 7, 10_000_000),
        ("0.000000001", 0, 1),
        ("0.999999999", 0, 999_999_999),
        ("-3", -3, 0),
        ("-0.5", 0, -500_000_000),  # google.type.Money: nanos carry the sign when units are 0
        ("-12.25", -12, -250_000_000),
        (str(INT64_MAX) + ".999999999", INT64_MAX, 999_999_999),
        ("-" + str(INT64_MAX), -INT64_MAX, 0),
    ],
)
def test_parse_amount(text: str, units: int, nanos: int) -> None:
    assert parse_amount(text) == (units, nanos)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "is required"),
        ("12.5000000001", "10 fractional digits; at most 9"),
        ("1.", "is not a decimal amount"),
        (".5", "is not a decimal amount"),
        ("+1", "is not a decimal amount"),
        ("1e3", "is not a decimal amount"),
        (" 1", "is not a decimal amount"),
        ("1 ", "is not a decimal amount"),
        ("1\n", "is not a decimal amount"),
        ("1,50", "is not a decimal amount"),
        ("--1", "is not a decimal amount"),
        ("NaN", "is not a decimal amount"),
        ("Infinity", "is not a decimal amount"),
        ("١٢", "is not a decimal amount"),  # Arabic-Indic digits: int() would take them
        (str(INT64_MAX + 1), "too large"),
    ],
)
def test_parse_amount_rejects(text: str, why: str) -> None:
    with pytest.raises(AmountError, match=why):
        parse_amount(text)


@pytest.mark.parametrize(
    ("units", "nanos", "text"),
    [
        (12, 500_000_000, "12.50"),
        (7, 0, "7.00"),
        (0, 0, "0.00"),
        (0, 125_000_000, "0.125"),
        (0, 1, "0.000000001"),
        (-3, -500_000_000, "-3.50"),
        (0, -1, "-0.000000001"),
        (INT64_MAX, 999_999_999, str(INT64_MAX) + ".999999999"),
    ],
)
def test_format_amount(units: int, nanos: int, text: str) -> None:
    assert format_amount(units, nanos) == text


@pytest.mark.parametrize(
    ("units", "nanos"), [(1, -1), (-1, 1), (0, NANOS_PER_UNIT), (0, -NANOS_PER_UNIT)]
)
def test_format_amount_refuses_what_money_forbids(units: int, nanos: int) -> None:
    with pytest.raises(ValueError, match=r"not a google\.type\.Money amount"):
        format_amount(units, nanos)


@st.composite
def money_parts(draw: st.DrawFn) -> tuple[int, int]:
    units = draw(st.integers(-INT64_MAX, INT64_MAX))
    nanos = draw(st.integers(0, NANOS_PER_UNIT - 1))
    if units < 0 or (units == 0 and draw(st.booleans())):
        nanos = -nanos
    return units, nanos


@given(money_parts())
def test_money_to_string_to_money_is_identity(parts: tuple[int, int]) -> None:
    assert parse_amount(format_amount(*parts)) == parts


@given(st.from_regex(r"\A-?[0-9]{1,18}(\.[0-9]{1,9})?\Z"))
def test_string_to_money_to_string_keeps_the_value(text: str) -> None:
    from decimal import Decimal

    formatted = format_amount(*parse_amount(text))
    assert Decimal(formatted) == Decimal(text)
    assert format_amount(*parse_amount(formatted)) == formatted  # canonical: a fixed point


# --- products ----------------------------------------------------------------------------------


def stored(**changes: Any) -> Product:
    values: dict[str, Any] = {
        "title": "Teapot",
        "price": Money("EUR", 35, 500_000_000),
        "update_time": datetime(2026, 1, 2, 3, 4, 6, 678901, tzinfo=UTC),
    }
    return product(**{**values, **changes})


def test_product_to_proto_renames_title_and_writes_the_price_as_a_decimal() -> None:
    message = product_to_proto(stored())
    assert message.name == "products/p1"
    assert message.display_name == "Teapot"
    assert message.price == catalog_pb2.Price(amount="35.50", currency_code="EUR")
    assert (message.sku, message.stock, message.etag) == ("SKU-1", 1, "e1")
    assert message.update_time.seconds - message.create_time.seconds == 1


def test_fields_from_proto_is_the_inverse() -> None:
    fields, problem = fields_from_proto(product_to_proto(stored()))
    assert problem is None
    assert fields.title == "Teapot"
    assert fields.price == Money("EUR", 35, 500_000_000)


def test_fields_from_proto_reports_a_bad_amount_on_its_v2_path() -> None:
    message = catalog_pb2.Product(price=catalog_pb2.Price(amount="1.2.3", currency_code="EUR"))
    fields, problem = fields_from_proto(message)
    assert problem is not None and problem.field == "product.price.amount"
    assert "'1.2.3' is not a decimal amount" in problem.description
    assert fields.price == Money("EUR", 0, 0)  # the rest can still be validated
    assert fields_from_proto(catalog_pb2.Product())[0].price is None


# --- masks, lists, errors ----------------------------------------------------------------------


def test_mask_paths_map_to_the_domains() -> None:
    assert domain_mask(["display_name", "price.amount", "price.currency_code", "etag"]) == [
        "title",
        "price.units",
        "price.nanos",
        "price.currency_code",
        "etag",
    ]
    assert domain_mask(["*"]) == ["*"]


def test_mask_refuses_v1_names_and_unknown_paths() -> None:
    with pytest.raises(DomainError) as exc:
        domain_mask(["title", "price.units", "display_name"])
    assert exc.value.code is Code.INVALID_ARGUMENT
    assert [v.field for v in exc.value.violations] == ["update_mask", "update_mask"]
    assert "unknown field 'title'" in exc.value.violations[0].description
    assert "display_name" in exc.value.violations[0].description


def test_v2_filter_and_order_by_speak_display_name() -> None:
    assert parse_filter('display_name = "Teapot" AND price < 20.5', V2_VOCABULARY) == (
        Condition("title", "=", "Teapot"),
        Condition("price", "<", (20, 500_000_000)),
    )
    assert parse_order_by("display_name desc, price", V2_VOCABULARY) == (
        SortKey("title", descending=True),
        SortKey("price"),
    )
    with pytest.raises(DomainError) as exc:
        parse_filter('title = "Teapot"', V2_VOCABULARY)
    assert "filterable: display_name, category, price" in violations(exc)["filter"]
    with pytest.raises(DomainError) as exc:
        parse_order_by("title", V2_VOCABULARY)
    assert "use one of display_name, sku" in violations(exc)["order_by"]


def test_v1_keeps_its_words() -> None:
    with pytest.raises(DomainError) as exc:
        parse_filter('display_name = "Teapot"')
    assert "filterable: category, price" in violations(exc)["filter"]
    with pytest.raises(DomainError):
        parse_order_by("display_name")
    assert parse_order_by("title") == (SortKey("title"),)


def test_display_name_filter_becomes_a_parameter_on_the_title_column() -> None:
    query = build_list_query(10, "", 'display_name != "x"', "display_name", V2_VOCABULARY)
    sql, params = build_list_sql(query, 11)
    assert "WHERE title != $1" in sql and "ORDER BY title ASC, id ASC" in sql
    assert params == ["x", 11]


def test_errors_are_renamed_to_v2_paths() -> None:
    error = invalid_argument(
        [
            FieldViolation("product.title", "must not be empty"),
            FieldViolation("product.price.units", "must not be negative"),
            FieldViolation("product.price.nanos", "must not be negative"),
            FieldViolation("product.sku", "is required"),
        ]
    )
    renamed = in_v2_terms(error)
    assert [(v.field, v.description) for v in renamed.violations] == [
        ("product.display_name", "must not be empty"),
        ("product.price.amount", "must not be negative"),
        ("product.sku", "is required"),
    ]
    assert renamed.message == (
        "invalid fields: product.display_name, product.price.amount, product.sku"
    )
    not_found = DomainError("product 'products/x' not found", Code.NOT_FOUND, "NOT_FOUND")
    assert in_v2_terms(not_found) is not_found
    bare = DomainError("bad", Code.INVALID_ARGUMENT, "INVALID_ARGUMENT")
    assert in_v2_terms(bare) is bare


class RecordingRepository:
    """Records writes: a call that gets here passed validation."""

    def __init__(self) -> None:
        self.writes: list[Any] = []

    async def insert(self, product: Product) -> Product:
        self.writes.append(product)
        return product

    async def update(self, *args: Any) -> Product:
        self.writes.append(args)
        return stored()

    async def get(self, product_id: str) -> Product | None:
        return stored(id=product_id)

    async def list(self, query: ListQuery, limit: int) -> list[Product]:
        raise AssertionError("not called")

    async def delete(self, product_id: str, expected_etag: str | None) -> None:
        raise AssertionError("not called")


async def test_create_reports_a_bad_amount_with_every_other_bad_field() -> None:
    repository = RecordingRepository()
    servicer = CatalogServicerV2(Catalog(repository))
    request = catalog_pb2.CreateProductRequest(
        product=catalog_pb2.Product(
            sku="",
            display_name=" ",
            price=catalog_pb2.Price(amount="12.5000000001", currency_code="eur"),
        )
    )
    with pytest.raises(DomainError) as exc:
        await servicer.CreateProduct(request, None)  # type: ignore[arg-type]
    assert exc.value.code is Code.INVALID_ARGUMENT
    assert set(violations(exc)) == {
        "product.price.amount",
        "product.sku",
        "product.display_name",
        "product.price.currency_code",
    }
    assert "at most 9" in violations(exc)["product.price.amount"]
    assert repository.writes == []


@pytest.mark.parametrize("amount", ["-1", "-0.01"])
async def test_create_refuses_a_negative_price_on_the_amount(amount: str) -> None:
    servicer = CatalogServicerV2(Catalog(RecordingRepository()))
    request = catalog_pb2.CreateProductRequest(
        product=catalog_pb2.Product(
            sku="S-1",
            display_name="Mug",
            price=catalog_pb2.Price(amount=amount, currency_code="EUR"),
        )
    )
    with pytest.raises(DomainError) as exc:
        await servicer.CreateProduct(request, None)  # type: ignore[arg-type]
    assert violations(exc) == {"product.price.amount": "must not be negative"}


async def test_update_ignores_a_bad_amount_the_mask_leaves_out() -> None:
    repository = RecordingRepository()
    servicer = CatalogServicerV2(Catalog(repository))
    product = catalog_pb2.Product(
        name="products/p1", display_name="Big mug", price=catalog_pb2.Price(amount="oops")
    )
    masked = catalog_pb2.UpdateProductRequest(
        product=product, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
    )
    await servicer.UpdateProduct(masked, None)  # type: ignore[arg-type]
    (product_id, changes, _etag, _new_etag) = repository.writes[0]
    assert (product_id, changes) == ("p1", {"title": "Big mug"})

    unmasked = catalog_pb2.UpdateProductRequest(
        product=product, update_mask=field_mask_pb2.FieldMask(paths=["price.amount", "sku"])
    )
    with pytest.raises(DomainError) as exc:
        await servicer.UpdateProduct(unmasked, None)  # type: ignore[arg-type]
    assert set(violations(exc)) == {"product.price.amount", "product.sku"}
    assert len(repository.writes) == 1


async def test_update_of_the_amount_alone_sets_units_and_nanos() -> None:
    repository = RecordingRepository()
    servicer = CatalogServicerV2(Catalog(repository))
    request = catalog_pb2.UpdateProductRequest(
        product=catalog_pb2.Product(name="products/p1", price=catalog_pb2.Price(amount="8.5")),
        update_mask=field_mask_pb2.FieldMask(paths=["price.amount"]),
    )
    await servicer.UpdateProduct(request, None)  # type: ignore[arg-type]
    assert repository.writes[0][1] == {"price_units": 8, "price_nanos": 500_000_000}
