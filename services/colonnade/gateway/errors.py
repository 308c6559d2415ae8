"""Errors as google.rpc.Status JSON, with the standard gRPC code to HTTP status table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# google/rpc/code.proto "HTTP Mapping"; identical in grpc-gateway runtime/errors.go.
HTTP_STATUS = {
    0: 200,  # OK
    1: 499,  # CANCELLED (client closed request)
    2: 500,  # UNKNOWN
    3: 400,  # INVALID_ARGUMENT
    4: 504,  # DEADLINE_EXCEEDED
    5: 404,  # NOT_FOUND
    6: 409,  # ALREADY_EXISTS
    7: 403,  # PERMISSION_DENIED
    8: 429,  # RESOURCE_EXHAUSTED
    9: 400,  # FAILED_PRECONDITION (deliberately not 412)
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}

OK = 0
CANCELLED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14


def http_status(code: int) -> int:
    """HTTP status of a gRPC code; 500 for a code outside the table (grpc-gateway's choice)."""
    return HTTP_STATUS.get(code, 500)


class GatewayError(Exception):
    """An error the gateway answers itself, rendered as a google.rpc.Status body.

    `http` overrides the status taken from the code table (405, 413 and 415 have no gRPC code
    of their own); `details` are JSON-ready `Any` objects (`{"@type": ..., ...}`).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        http: int | None = None,
        details: Sequence[dict[str, Any]] = (),
        headers: Sequence[tuple[bytes, bytes]] = (),
        trailing: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http = http if http is not None else http_status(code)
        self.details = list(details)
        self.headers = list(headers)
        self.trailing = list(trailing)  # the call's trailing metadata, for Grpc-Trailer-*

    def body(self) -> dict[str, Any]:
        """The google.rpc.Status JSON object."""
        return {"code": self.code, "message": self.message, "details": self.details}


def bad_request(field: str, reason: str, message: str | None = None) -> GatewayError:
    """400 INVALID_ARGUMENT naming the field, with a google.rpc.BadRequest detail."""
    text = message or (f"invalid value for {field!r}: {reason}" if field else reason)
    detail = {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [{"field": field, "description": reason}],
    }
    return GatewayError(INVALID_ARGUMENT, text, details=[detail])
