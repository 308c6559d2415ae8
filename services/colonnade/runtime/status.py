"""Domain errors → rich ``google.rpc.Status`` (ErrorInfo and BadRequest details)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from colonnade.runtime.errors import ERROR_DOMAIN, DomainError

_GRPC_CODES = {code.value[0]: code for code in grpc.StatusCode}


def grpc_code(error: DomainError) -> grpc.StatusCode:
    """The gRPC status code of a domain error."""
    return _GRPC_CODES[error.code.value]


def to_status_proto(error: DomainError) -> status_pb2.Status:
    """Build the ``google.rpc.Status`` with ErrorInfo and, for bad fields, BadRequest."""
    status = status_pb2.Status(code=error.code.value, message=error.message)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=ERROR_DOMAIN, metadata=dict(error.metadata)
    )
    detail = any_pb2.Any()
    detail.Pack(info)
    status.details.append(detail)
    if error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        detail = any_pb2.Any()
        detail.Pack(bad_request)
        status.details.append(detail)
    return status


def to_grpc_status(error: DomainError) -> grpc.Status:
    """The ``grpc.Status`` (code, message, ``grpc-status-details-bin`` trailer) to abort with."""
    status: grpc.Status = rpc_status.to_status(to_status_proto(error))
    return status


def internal_status(message: str = "internal error") -> grpc.Status:
    """An INTERNAL status that reveals nothing of the exception that caused it."""
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message=message)
    )
    return status
