"""The breaking-change gate: the published packages now, and planted changes in a copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from colonnade_tools import breaking
from tests.conftest import REPO_ROOT

CATALOG = "proto/colonnade/catalog/v1/catalog.proto"
CATALOG_V2 = "proto/colonnade/catalog/v2/catalog.proto"
ORDERS = "proto/colonnade/orders/v1/orders.proto"


def test_published_packages_have_no_breaking_change() -> None:
    """The gate itself: every package in proto/released/ against the protos of this tree."""
    assert breaking.CURRENT.exists(), "run `make gen` first (make test does)"
    assert set(breaking.released_packages()) >= {
        "colonnade.catalog.v1",
        "colonnade.catalog.v2",
        "colonnade.orders.v1",
    }
    assert breaking.gate() == []


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree's protos compiled: the "released" side of every planted change."""
    out = tmp_path_factory.mktemp("baseline") / "set.binpb"
    breaking.build_descriptor_set(REPO_ROOT / "proto", out)
    return out


Edit = Callable[[str], str]


def planted(tmp_path: Path, baseline: Path, path: str, edit: Edit, package: str) -> list[str]:
    """Apply ``edit`` to ``path`` in a copy of proto/, compile it, compare with the baseline."""
    copy = tmp_path / "proto"
    shutil.copytree(REPO_ROOT / "proto", copy, ignore=shutil.ignore_patterns("released"))
    target = copy / path.removeprefix("proto/")
    before = target.read_text()
    after = edit(before)
    assert after != before, "the edit did not apply"
    target.write_text(after)
    current = breaking.build_descriptor_set(copy, tmp_path / "current.binpb")
    return breaking.breaking_changes(breaking.load(baseline), current, package)


def replace(old: str, new: str) -> Edit:
    return lambda text: text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("path", "edit", "expected"),
    [
        (
            CATALOG,
            replace("int64 stock = 7", "int32 stock = 7"),
            "catalog.v1.Product.stock (field 7) changed type from TYPE_INT64 to TYPE_INT32",
        ),
        (
            CATALOG,
            replace("string sku = 2", "string sku = 12"),
            "colonnade.catalog.v1.Product.sku (field 2) was removed without reserving",
        ),
        (
            CATALOG,
            replace("string title = 3", "string headline = 3"),
            "colonnade.catalog.v1.Product.title (field 3) was renamed to 'headline'",
        ),
        (
            CATALOG,
            replace(
                "string title = 3 [(google.api.field_behavior) = REQUIRED]",
                'string title = 3 [(google.api.field_behavior) = REQUIRED, json_name = "heading"]',
            ),
            "Product.title (field 3) changed its json_name from 'title' to 'heading'",
        ),
        (
            CATALOG,
            replace("  string description = 4 [(google.api.field_behavior) = OPTIONAL];", ""),
            "colonnade.catalog.v1.Product.description (field 4) was removed without reserving",
        ),
        (
            CATALOG,
            replace("int64 stock = 7", "repeated int64 stock = 7"),
            "Product.stock (field 7) changed from singular to repeated",
        ),
        (
            CATALOG,
            replace("google.type.Money price = 6", "google.protobuf.Timestamp price = 6"),
            "Product.price (field 6) changed type from .google.type.Money to "
            ".google.protobuf.Timestamp",
        ),
        (
            CATALOG,
            replace(
                "  rpc DeleteProduct(DeleteProductRequest) returns (google.protobuf.Empty) {\n"
                '    option (google.api.http) = {delete: "/v1/{name=products/*}"};\n'
                "    option (colonnade.api.v1.http_success_status) = 204;\n"
                "    option (colonnade.api.v1.policy) = "
                '{scopes: "catalog.products.write" rate_limit_class: "write"};\n  }\n',
                "",
            ),
            "rpc colonnade.catalog.v1.CatalogService.DeleteProduct was removed",
        ),
        (
            CATALOG,
            replace("service CatalogService {", "service ProductService {"),
            "service colonnade.catalog.v1.CatalogService was removed",
        ),
        (
            CATALOG,
            replace(
                'option (google.api.http) = {get: "/v1/{name=products/*}"};',
                'option (google.api.http) = {get: "/v1/{name=items/*}"};',
            ),
            "rpc colonnade.catalog.v1.CatalogService.GetProduct changed its google.api.http rule",
        ),
        (
            CATALOG,
            replace(
                "rpc GetProduct(GetProductRequest) returns (Product)",
                "rpc GetProduct(GetProductRequest) returns (stream Product)",
            ),
            "rpc colonnade.catalog.v1.CatalogService.GetProduct changed streaming",
        ),
        (
            CATALOG,
            replace(
                "    // The hold ran out before it was committed and its stock was returned.\n"
                "    EXPIRED = 4;\n",
                "",
            ),
            "enum value colonnade.catalog.v1.Reservation.State.EXPIRED (4) was removed",
        ),
        (
            ORDERS,
            replace("CONFIRMED = 2;", "ACCEPTED = 2;"),
            "enum value colonnade.orders.v1.Order.State.CONFIRMED (2) was renamed to 'ACCEPTED'",
        ),
        (
            ORDERS,
            replace(
                "rpc CancelOrder(CancelOrderRequest) returns (Order)",
                "rpc CancelOrder(CancelOrderRequest) returns (ListOrdersResponse)",
            ),
            "rpc colonnade.orders.v1.OrdersService.CancelOrder changed its types",
        ),
    ],
)
def test_planted_breaking_changes_are_named(
    tmp_path: Path, baseline: Path, path: str, edit: Edit, expected: str
) -> None:
    package = "colonnade.catalog.v1" if path == CATALOG else "colonnade.orders.v1"
    problems = planted(tmp_path, baseline, path, edit, package)
    assert any(expected in p for p in problems), problems


def test_additions_pass(tmp_path: Path, baseline: Path) -> None:
    def add(text: str) -> str:
        text = text.replace(
            "  string etag = 10 [(google.api.field_behavior) = OPTIONAL];\n",
            "  string etag = 10 [(google.api.field_behavior) = OPTIONAL];\n\n"
            "  // A new field.\n  string colour = 11;\n",
        )
        text = text.replace(
            "service CatalogService {",
            "service CatalogService {\n  // A new method.\n"
            "  rpc CountProducts(GetProductRequest) returns (Product) {}\n",
        )
        return text.replace("    EXPIRED = 4;\n", "    EXPIRED = 4;\n    // New.\n    LOST = 5;\n")

    assert planted(tmp_path, baseline, CATALOG, add, "colonnade.catalog.v1") == []


def test_a_reserved_removal_passes_and_a_removed_package_is_named(
    tmp_path: Path, baseline: Path
) -> None:
    reserve = replace(
        "  string description = 4 [(google.api.field_behavior) = OPTIONAL];",
        '  reserved 4;\n  reserved "description";',
    )
    assert planted(tmp_path / "a", baseline, CATALOG, reserve, "colonnade.catalog.v1") == []
    gone = replace("package colonnade.orders.v1;", "package colonnade.orders.v2;")
    assert planted(tmp_path / "b", baseline, ORDERS, gone, "colonnade.orders.v1") == [
        "package colonnade.orders.v1 was removed"
    ]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            replace("string display_name = 3", "string title = 3"),
            "colonnade.catalog.v2.Product.display_name (field 3) was renamed to 'title'",
        ),
        (
            replace("string amount = 1", "int64 amount = 1"),
            "colonnade.catalog.v2.Price.amount (field 1) changed type from TYPE_STRING to "
            "TYPE_INT64",
        ),
        (
            replace('{get: "/v2/{name=products/*}"}', '{get: "/v2/{name=items/*}"}'),
            "rpc colonnade.catalog.v2.CatalogService.GetProduct changed its google.api.http rule",
        ),
    ],
)
def test_the_gate_covers_catalog_v2(
    tmp_path: Path, baseline: Path, edit: Edit, expected: str
) -> None:
    problems = planted(tmp_path, baseline, CATALOG_V2, edit, "colonnade.catalog.v2")
    assert any(expected in p for p in problems), problems


def test_catalog_v2_as_an_edit_of_v1_is_refused(tmp_path: Path, baseline: Path) -> None:
    """Why v2 is a package of its own: written over v1, the gate names both breaking changes."""
    v2_text = (REPO_ROOT / CATALOG_V2).read_text()

    def overwrite(text: str) -> str:
        # v2's file under v1's package, paths and go_package, keeping v1's reservation RPCs
        # and messages (v2 leaves them out; their removal is not what this test is about).
        keep = text[
            text.index("  rpc ReserveStock") : text.index("\n}\n", text.index("rpc ReserveStock"))
        ]
        body = v2_text.replace("package colonnade.catalog.v2;", "package colonnade.catalog.v1;")
        body = body.replace("/v2/", "/v1/").replace("catalog/v2;catalogv2", "catalog/v1;catalogv1")
        body = body.replace(
            'import "google/protobuf/empty.proto";',
            'import "google/protobuf/duration.proto";\nimport "google/protobuf/empty.proto";',
        )
        rest = text[text.index("// Stock held for, or sold to, one order.") :]
        end = body.index("\n}\n", body.index("service CatalogService"))  # the service's last }
        body = body[:end] + "\n\n" + keep + body[end:]
        return body + "\n" + rest

    problems = planted(tmp_path, baseline, CATALOG, overwrite, "colonnade.catalog.v1")
    assert any("Product.title (field 3) was renamed to 'display_name'" in p for p in problems)
    assert any(
        "Product.price (field 6) changed type from .google.type.Money to "
        ".colonnade.catalog.v1.Price" in p
        for p in problems
    ), problems
    assert not any("ReserveStock" in p or "http rule" in p for p in problems), problems
