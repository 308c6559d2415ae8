"""The orders model, filter grammar and list SQL, without gRPC or PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from colonnade.orders.listing import (
    OrderCondition,
    OrderQuery,
    build_order_query,
    next_page_token,
    parse_order_filter,
)
from colonnade.orders.model import (
    LineItem,
    Order,
    OrderState,
    build_draft,
    forbidden_transition,
    order_total,
    parse_order_name,
)
from colonnade.orders.storage import build_list_sql
from colonnade.runtime.errors import Code, DomainError
from colonnade.runtime.money import Money

ORDER_ID = "0b5a4c2e-8f1d-4e3a-9c7b-6d5e4f3a2b1c"
WHEN = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def violations(exc: pytest.ExceptionInfo[DomainError]) -> dict[str, str]:
    return {v.field: v.description for v in exc.value.violations}


def order(state: OrderState = OrderState.CONFIRMED) -> Order:
    return Order(ORDER_ID, (), "EUR", state, None, Money("EUR"), 1, WHEN, WHEN)


def test_draft_reports_every_bad_field_and_fingerprints_the_body() -> None:
    with pytest.raises(DomainError) as exc:
        build_draft("x", "eur", [("products/a", 0), ("products/a", 1), ("items/b", 1)])
    assert set(violations(exc)) == {
        "request_id",
        "order.currency_code",
        "order.line_items[0].quantity",
        "order.line_items[1].product",
        "order.line_items[2].product",
    }
    rid = "5f0c9f7e-2d4b-4c1a-9a8e-0f6c3b1d2e4f"
    one = build_draft(rid, "EUR", [("products/a", 1)])
    assert one.fingerprint == build_draft(rid, "EUR", [("products/a", 1)]).fingerprint
    assert one.fingerprint != build_draft(rid, "EUR", [("products/a", 2)]).fingerprint
    assert one.fingerprint != build_draft(rid, "USD", [("products/a", 1)]).fingerprint
    assert build_draft("", "EUR", [("products/a", 1)]).request_id is None


def test_total_is_exact() -> None:
    items = [
        LineItem("products/a", 3, Money("EUR", 0, 100_000_000)),
        LineItem("products/b", 7, Money("EUR", 19, 990_000_000)),
    ]
    assert order_total("EUR", items) == Money("EUR", 140, 230_000_000)


def test_forbidden_transitions_name_the_state() -> None:
    error = forbidden_transition(order(OrderState.SHIPPED), "cancelled")
    assert error.code is Code.FAILED_PRECONDITION
    assert "is SHIPPED" in error.message and error.metadata["state"] == "SHIPPED"
    assert error.metadata["required_state"] == "CONFIRMED"


@pytest.mark.parametrize("name", ["", "orders/", "orders/1", "products/" + ORDER_ID, ORDER_ID])
def test_order_names(name: str) -> None:
    assert parse_order_name("orders/" + ORDER_ID) == ORDER_ID
    with pytest.raises(DomainError) as exc:
        parse_order_name(name)
    assert list(violations(exc)) == ["name"]


def test_filter_grammar() -> None:
    assert parse_order_filter('state != CANCELLED AND create_time >= "2026-03-04T05:06:07Z"') == (
        OrderCondition("state", "!=", OrderState.CANCELLED),
        OrderCondition("create_time", ">=", datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)),
    )
    for bad in ("state > CONFIRMED", "state = 2", 'create_time = "2026-01-01T00:00:00Z"'):
        with pytest.raises(DomainError) as exc:
            parse_order_filter(bad)
        assert list(violations(exc)) == ["filter"]


def test_page_tokens_round_trip_bound_to_their_filter() -> None:
    query = build_order_query(2, "", "state = CONFIRMED")
    token = next_page_token(query, order())
    assert build_order_query(2, token, "state = CONFIRMED").after == (WHEN, ORDER_ID)
    with pytest.raises(DomainError) as exc:
        build_order_query(2, token, "")
    assert "another filter" in violations(exc)["page_token"]


def test_list_sql_uses_parameters_and_a_keyset() -> None:
    query = OrderQuery(10, (OrderCondition("state", "!=", OrderState.CANCELLED),), (WHEN, ORDER_ID))
    sql, params = build_list_sql(query, 11)
    assert params == ["CANCELLED", WHEN, ORDER_ID, 11]
    assert "state <> $1" in sql and "(create_time, id) < ($2, $3)" in sql
    assert sql.endswith("ORDER BY create_time DESC, id DESC LIMIT $4")
