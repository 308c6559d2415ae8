"""``colonnade-catalog-cli``: a small gRPC client for the catalog service.

    colonnade-catalog-cli list --filter 'category = "books"' --order-by 'price desc'
    colonnade-catalog-cli create --sku MUG-1 --title Mug --price 9.90 --currency EUR
    colonnade-catalog-cli update products/mug --price 8.50 --etag 1a2b…
    colonnade-catalog-cli delete products/mug

Prints responses as proto3 JSON; on error prints the status, its message and
each field violation, and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, json_format
from google.rpc import error_details_pb2
from google.type import money_pb2
from grpc_status import rpc_status

from colonnade.catalog.v1 import catalog_pb2, catalog_pb2_grpc


def _money(amount: str, currency: str) -> money_pb2.Money:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise SystemExit(f"--price must be a decimal number, got {amount!r}") from None
    units = int(value)
    nanos = int((value - units) * 1_000_000_000)
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def _product(ns: argparse.Namespace) -> tuple[catalog_pb2.Product, list[str]]:
    product = catalog_pb2.Product()
    paths = []
    for field in ("sku", "title", "description", "category", "stock"):
        value = getattr(ns, field, None)
        if value is not None:
            setattr(product, field, value)
            paths.append(field)
    if ns.price is not None:
        product.price.CopyFrom(_money(ns.price, ns.currency))
        paths.append("price")
    return product, paths


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colonnade-catalog-cli", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("CATALOG_TARGET", "127.0.0.1:50051"),
        help="host:port of the catalog service (env CATALOG_TARGET)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    parser.add_argument(
        "--token",
        default=os.environ.get("COLONNADE_TOKEN", ""),
        help="bearer token for methods that need one (env COLONNADE_TOKEN; "
        "`colonnade-dev-auth token` mints one locally)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    get = commands.add_parser("get", help="show one product")
    get.add_argument("name", help="products/{id}")

    lst = commands.add_parser("list", help="list products")
    lst.add_argument("--page-size", type=int, default=0)
    lst.add_argument("--page-token", default="")
    lst.add_argument("--filter", default="")
    lst.add_argument("--order-by", default="")

    for name, needs_name in (("create", False), ("update", True)):
        sub = commands.add_parser(name, help=f"{name} a product")
        if needs_name:
            sub.add_argument("name", help="products/{id}")
            sub.add_argument("--etag", default="", help="only if the product still has this etag")
        else:
            sub.add_argument("--id", default="", help="the id to give the product")
        sub.add_argument("--sku")
        sub.add_argument("--title")
        sub.add_argument("--description")
        sub.add_argument("--category")
        sub.add_argument("--stock", type=int)
        sub.add_argument("--price", help="decimal amount, e.g. 9.90")
        sub.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")

    delete = commands.add_parser("delete", help="delete a product")
    delete.add_argument("name", help="products/{id}")
    delete.add_argument("--etag", default="")
    return parser


def _print_error(error: Any) -> None:
    call = error  # grpc.Call and grpc.RpcError
    print(f"error: {call.code().name}: {call.details()}", file=sys.stderr)
    status = rpc_status.from_call(call)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            for violation in bad.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    md = [("authorization", f"Bearer {ns.token}")] if ns.token else None
    with grpc.insecure_channel(ns.target) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        try:
            if ns.command == "get":
                reply = stub.GetProduct(
                    catalog_pb2.GetProductRequest(name=ns.name), timeout=ns.timeout, metadata=md
                )
            elif ns.command == "list":
                reply = stub.ListProducts(
                    catalog_pb2.ListProductsRequest(
                        page_size=ns.page_size,
                        page_token=ns.page_token,
                        filter=ns.filter,
                        order_by=ns.order_by,
                    ),
                    timeout=ns.timeout,
                    metadata=md,
                )
            elif ns.command == "create":
                product, _ = _product(ns)
                reply = stub.CreateProduct(
                    catalog_pb2.CreateProductRequest(product=product, product_id=ns.id),
                    timeout=ns.timeout,
                    metadata=md,
                )
            elif ns.command == "update":
                product, paths = _product(ns)
                product.name = ns.name
                product.etag = ns.etag
                if not paths:
                    raise SystemExit(
                        "update: name at least one field to change (--title, --price…)"
                    )
                reply = stub.UpdateProduct(
                    catalog_pb2.UpdateProductRequest(
                        product=product, update_mask=field_mask_pb2.FieldMask(paths=paths)
                    ),
                    timeout=ns.timeout,
                    metadata=md,
                )
            else:
                stub.DeleteProduct(
                    catalog_pb2.DeleteProductRequest(name=ns.name, etag=ns.etag),
                    timeout=ns.timeout,
                    metadata=md,
                )
                print(f"deleted {ns.name}")
                return 0
        except grpc.RpcError as error:
            _print_error(error)
            return 1
    print(json_format.MessageToJson(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
