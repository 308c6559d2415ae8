"""gRPC status codes and the HTTP status each one maps to: the gateway's one table of them.

The codes and their names are `google.rpc.code_pb2`'s (google/rpc/code.proto); the HTTP
status next to each is the "HTTP Mapping" that code.proto documents and grpc-gateway's
runtime/errors.go implements. Everything in the gateway that names a code (the error bodies,
both gRPC clients, the OpenAPI documents) uses this enum instead of a bare integer.
"""

from __future__ import annotations

import enum

from google.rpc import code_pb2


class Code(enum.IntEnum):
    """A canonical gRPC status code; `http_status` is what the gateway answers for it.

    An `IntEnum`: a `Code` compares equal to its number, JSON-encodes as it, and a code a
    backend sends that is outside the table stays a plain `int` (see :func:`http_status`).
    """

    http_status: int

    def __new__(cls, value: int, http_status: int) -> Code:
        member = int.__new__(cls, value)
        member._value_ = value
        member.http_status = http_status
        return member

    OK = code_pb2.OK, 200
    CANCELLED = code_pb2.CANCELLED, 499  # "client closed request"
    UNKNOWN = code_pb2.UNKNOWN, 500
    INVALID_ARGUMENT = code_pb2.INVALID_ARGUMENT, 400
    DEADLINE_EXCEEDED = code_pb2.DEADLINE_EXCEEDED, 504
    NOT_FOUND = code_pb2.NOT_FOUND, 404
    ALREADY_EXISTS = code_pb2.ALREADY_EXISTS, 409
    PERMISSION_DENIED = code_pb2.PERMISSION_DENIED, 403
    RESOURCE_EXHAUSTED = code_pb2.RESOURCE_EXHAUSTED, 429
    FAILED_PRECONDITION = code_pb2.FAILED_PRECONDITION, 400  # deliberately not 412
    ABORTED = code_pb2.ABORTED, 409
    OUT_OF_RANGE = code_pb2.OUT_OF_RANGE, 400
    UNIMPLEMENTED = code_pb2.UNIMPLEMENTED, 501
    INTERNAL = code_pb2.INTERNAL, 500
    UNAVAILABLE = code_pb2.UNAVAILABLE, 503
    DATA_LOSS = code_pb2.DATA_LOSS, 500
    UNAUTHENTICATED = code_pb2.UNAUTHENTICATED, 401


_BY_NUMBER = {int(code): code for code in Code}
_HTTP_STATUS = {int(code): code.http_status for code in Code}


def http_status(code: int) -> int:
    """HTTP status of a gRPC code; 500 for a code outside the table (grpc-gateway's choice)."""
    return _HTTP_STATUS.get(code, 500)


def of(code: int) -> Code | None:
    """The `Code` of a number, None outside the table."""
    return _BY_NUMBER.get(code)


def code_name(code: int) -> str:
    """`NOT_FOUND` for 5; `CODE_42` for a number outside the table."""
    known = _BY_NUMBER.get(code)
    return known.name if known is not None else f"CODE_{code}"
