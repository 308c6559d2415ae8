"""Helpers shared by the integration tests: stubs, rich-status decoding."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from colonnade.catalog.v1 import catalog_pb2


def rich_status(error: grpc.aio.AioRpcError) -> tuple[dict[str, str], error_details_pb2.ErrorInfo]:
    """(field → description of every BadRequest violation, the ErrorInfo) of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status details"
    assert status.code == error.code().value[0]
    violations: dict[str, str] = {}
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.update({v.field: v.description for v in bad.field_violations})
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
    return violations, info


def new_product(unique: str, **overrides: object) -> catalog_pb2.Product:
    values: dict[str, object] = {
        "sku": f"SKU-{unique}",
        "title": f"Product {unique}",
        "description": "A thing",
        "category": f"cat-{unique}",
        "stock": 5,
    }
    values.update(overrides)
    product = catalog_pb2.Product(**values)  # type: ignore[arg-type]
    if "price" not in overrides:
        product.price.currency_code = "EUR"
        product.price.units = 12
        product.price.nanos = 500_000_000
    return product
