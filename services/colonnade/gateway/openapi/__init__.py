"""OpenAPI documents from descriptor sets, faithful to what the gateway serves.

One model (the gateway's routes, from `google.api.http` rules) and three renderings:

* ``openapi3``: OpenAPI 3.0.3, the main document. Slash-containing path variables are
  expanded into whole segments (``{name=products/*}`` → ``/v1/products/{name}``), as
  grpc-gateway's openapiv3 output and AWS do, so generic OpenAPI tooling can call them.
* ``swagger2``: Swagger 2.0 close to grpc-gateway's ``protoc-gen-openapiv2``: legacy model
  names (``v1Product``, ``rpcStatus``), ``/v1/{name}`` with a ``pattern``, ``default``
  error responses.
* ``aws``: the 3.0 document made importable by API Gateway REST APIs (see
  :func:`aws_import_problems` for the rules it obeys) with an ``x-amazon-apigateway-integration``
  (``http_proxy`` over a VPC link) on every operation, request validators, API key (and
  optionally Cognito) security per operation, and gateway responses shaped like
  ``google.rpc.Status``.

Schemas follow proto3 JSON as the gateway writes it: lowerCamel names, 64-bit integers as
strings, enums as names, well-known types in their JSON forms, unset message fields as
``null``. ``google.api.field_behavior`` gives ``required`` (REQUIRED) and ``readOnly``
(OUTPUT_ONLY); proto comments give descriptions.

    model.py     formats, options, operations and their statuses
    protodoc.py  comments, field behaviors, resource patterns from the descriptors
    schemas.py   proto3 JSON schemas of messages, enums and fields
    paths.py     OpenAPI paths from path templates; query parameters
    builder.py   what every rendering shares (parameters, bodies, tags)
    openapi3.py  OpenAPI 3.0.3
    aws.py       the API Gateway variant, and the import-rule linter
    swagger2.py  Swagger 2.0
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

from colonnade.gateway.descriptors import read_descriptor_set
from colonnade.gateway.openapi.aws import AwsBuilder, aws_import_problems
from colonnade.gateway.openapi.builder import DocumentBuilder
from colonnade.gateway.openapi.model import FORMATS, Format, Options
from colonnade.gateway.openapi.openapi3 import OpenApi3Builder
from colonnade.gateway.openapi.paths import render_path
from colonnade.gateway.openapi.swagger2 import Swagger2Builder

__all__ = [
    "COMMITTED",
    "FORMATS",
    "Format",
    "Options",
    "aws_import_problems",
    "dumps",
    "generate",
    "render_path",
]

_BUILDERS: dict[str, type[OpenApi3Builder] | type[Swagger2Builder]] = {
    "openapi3": OpenApi3Builder,
    "swagger2": Swagger2Builder,
    "aws": AwsBuilder,
}


def generate(
    descriptor_sets: Iterable[str | Path | descriptor_pb2.FileDescriptorSet],
    fmt: Format = "openapi3",
    options: Options | None = None,
) -> dict[str, Any]:
    """One merged document for every service with HTTP rules in the descriptor sets."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    sets = [
        s if isinstance(s, descriptor_pb2.FileDescriptorSet) else read_descriptor_set(s)
        for s in descriptor_sets
    ]
    builder: DocumentBuilder = _BUILDERS[fmt](sets, options or Options())
    return builder.document()


def dumps(doc: dict[str, Any]) -> str:
    """The canonical text of a document: what is committed and compared for drift."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


#: Where the generated documents are committed, by format (relative to the repository).
COMMITTED = {
    "openapi3": "openapi/colonnade.openapi3.json",
    "swagger2": "openapi/colonnade.swagger2.json",
    "aws": "openapi/colonnade.apigateway.json",
}
