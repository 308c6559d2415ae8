"""Domain errors: what went wrong, in terms a domain layer knows.

This module imports nothing from gRPC, so domain code can raise these and stay
testable alone. :mod:`colonnade.runtime.status` turns them into rich
``google.rpc.Status`` values (``ErrorInfo`` and ``BadRequest`` details).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: The ``ErrorInfo.domain`` of every error raised by Colonnade services.
ERROR_DOMAIN = "colonnade.dev"


class Code(enum.Enum):
    """The canonical error codes (google/rpc/code.proto), named as gRPC names them."""

    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    INTERNAL = 13
    UNAVAILABLE = 14
    UNAUTHENTICATED = 16


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One bad field: its path in the request (e.g. ``product.price.units``) and why."""

    field: str
    description: str


@dataclass(eq=False)
class DomainError(Exception):
    """An error with a canonical code, a stable machine-readable reason and details."""

    message: str
    code: Code = Code.INTERNAL
    reason: str = "INTERNAL"
    metadata: Mapping[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def invalid_argument(violations: Iterable[FieldViolation]) -> DomainError:
    """An INVALID_ARGUMENT naming every bad field."""
    found = tuple(violations)
    fields = ", ".join(dict.fromkeys(v.field for v in found))
    first = found[0].description if found else "invalid request"
    message = f"invalid {fields}: {first}" if len(found) == 1 else f"invalid fields: {fields}"
    return DomainError(
        message=message,
        code=Code.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        violations=found,
    )


def _noun(resource_type: str) -> str:
    """``catalog.colonnade.dev/Product`` → ``product``, for messages people read."""
    return resource_type.rsplit("/", 1)[-1].lower()


def not_found(resource_type: str, name: str) -> DomainError:
    return DomainError(
        message=f"{_noun(resource_type)} {name!r} not found",
        code=Code.NOT_FOUND,
        reason="RESOURCE_NOT_FOUND",
        metadata={"resource_type": resource_type, "resource_name": name},
    )


def already_exists(resource_type: str, field_name: str, value: str) -> DomainError:
    return DomainError(
        message=f"a {_noun(resource_type)} with {field_name} {value!r} already exists",
        code=Code.ALREADY_EXISTS,
        reason="RESOURCE_ALREADY_EXISTS",
        metadata={"resource_type": resource_type, "field": field_name, "value": value},
    )


def etag_mismatch(resource_type: str, name: str) -> DomainError:
    return DomainError(
        message=(
            f"{_noun(resource_type)} {name!r} was changed by someone else (etag mismatch): "
            "read it again and retry"
        ),
        code=Code.ABORTED,
        reason="ETAG_MISMATCH",
        metadata={"resource_type": resource_type, "resource_name": name},
    )


def unavailable(what: str, detail: str = "") -> DomainError:
    suffix = f": {detail}" if detail else ""
    return DomainError(
        message=f"{what} is unavailable{suffix}; retry later",
        code=Code.UNAVAILABLE,
        reason=f"{what.upper().replace(' ', '_')}_UNAVAILABLE",
        metadata={"dependency": what},
    )


def failed_precondition(
    message: str, reason: str, metadata: Mapping[str, str] | None = None
) -> DomainError:
    """The system is not in the state the call needs (a forbidden transition, no stock…).

    ``message`` says which state it is in; retrying the same call cannot succeed.
    """
    return DomainError(
        message=message,
        code=Code.FAILED_PRECONDITION,
        reason=reason,
        metadata=dict(metadata or {}),
    )


def deadline_exceeded(what: str) -> DomainError:
    """A dependency did not answer within the time the caller left for it."""
    return DomainError(
        message=f"{what} did not answer within the deadline",
        code=Code.DEADLINE_EXCEEDED,
        reason=f"{what.upper().replace(' ', '_')}_DEADLINE_EXCEEDED",
        metadata={"dependency": what},
    )


def aborted(message: str, reason: str, metadata: Mapping[str, str] | None = None) -> DomainError:
    """A concurrency conflict the caller resolves by retrying the whole call."""
    return DomainError(
        message=message, code=Code.ABORTED, reason=reason, metadata=dict(metadata or {})
    )
