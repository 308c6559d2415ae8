"""Every exception the gateway raises on purpose, in one hierarchy named after what happened.

    GatewayError
    ├── ConfigurationError (also a ValueError)  the gateway cannot start: exit code 2
    │   ├── ConfigError                         a setting is missing or malformed (names it)
    │   ├── BackendConfigError                  a backend mapping is malformed or incomplete
    │   └── DescriptorError                     a descriptor set or an HttpRule is unusable
    │       └── TemplateError                   a path template breaks http.proto's grammar
    ├── StatusError                             answered to the HTTP client as google.rpc.Status
    │   ├── BadRequest                          400, INVALID_ARGUMENT + BadRequest detail
    │   ├── MethodNotAllowed                    405, UNIMPLEMENTED, with `Allow`
    │   ├── ContentTooLarge                     413, RESOURCE_EXHAUSTED
    │   └── UnsupportedMediaType                415, INVALID_ARGUMENT
    ├── JsonError (also a ValueError)           a JSON value does not fit its field
    ├── ClientDisconnected                      the HTTP client left mid-request
    ├── RpcError                                a backend call ended without OK
    └── TransportError                          an HTTP/2 connection to a backend is unusable
        └── ProtocolError                       the backend broke HTTP/2

Codes are `status.Code` members, never bare numbers; the HTTP status of a `StatusError` comes
from the code's row in that table unless the error names its own (405, 413, 415 have no gRPC
code of their own).
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import Any

from colonnade.gateway.metadata import Metadata, decode_binary
from colonnade.gateway.status import Code, http_status


class GatewayError(Exception):
    """The root of the gateway's own exceptions."""


# -- start-up ----------------------------------------------------------------------------------


class ConfigurationError(GatewayError, ValueError):
    """The gateway cannot start with what it was given (`colonnade-gateway` exits with 2)."""


class ConfigError(ConfigurationError):
    """A configuration value is missing or malformed (the message names the key)."""


class BackendConfigError(ConfigurationError):
    """A backend mapping cannot be parsed or does not cover a routed service."""


class DescriptorError(ConfigurationError):
    """A descriptor set cannot be loaded (unreadable, unresolved import, bad rule)."""


class TemplateError(DescriptorError):
    """A path template does not follow the http.proto grammar."""


# -- answered to the HTTP client ---------------------------------------------------------------


class StatusError(GatewayError):
    """An error the gateway answers itself, rendered as a google.rpc.Status body.

    `http` overrides the status taken from the code table; `details` are JSON-ready `Any`
    objects (`{"@type": ..., ...}`); `headers` go on the response; `trailing` is the failed
    call's trailing metadata, for `Grpc-Trailer-*`.
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
        self.trailing = list(trailing)

    def body(self) -> dict[str, Any]:
        """The google.rpc.Status JSON object."""
        return {"code": int(self.code), "message": self.message, "details": self.details}


class BadRequest(StatusError):
    """400 INVALID_ARGUMENT naming the field, with a google.rpc.BadRequest detail."""

    def __init__(self, field: str, reason: str, message: str | None = None) -> None:
        text = message or (f"invalid value for {field!r}: {reason}" if field else reason)
        detail = {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": reason}],
        }
        super().__init__(Code.INVALID_ARGUMENT, text, details=[detail])
        self.field = field
        self.reason = reason


class MethodNotAllowed(StatusError):
    """405 (body: UNIMPLEMENTED, grpc-gateway's code for it); `Allow` lists the methods the
    path has, when it has any."""

    def __init__(self, message: str, allowed: Sequence[str] = ()) -> None:
        headers = [(b"allow", ", ".join(allowed).encode())] if allowed else []
        super().__init__(Code.UNIMPLEMENTED, message, http=405, headers=headers)
        self.allowed = list(allowed)


class ContentTooLarge(StatusError):
    """413: the request body is over the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            Code.RESOURCE_EXHAUSTED,
            f"the request body is larger than {limit} bytes",
            http=413,
        )


class UnsupportedMediaType(StatusError):
    """415: a body that is not JSON for a JSON route."""

    def __init__(self, content_type: bytes) -> None:
        super().__init__(
            Code.INVALID_ARGUMENT,
            f"unsupported content type {content_type.decode('latin-1')!r}; send application/json",
            http=415,
        )


# -- conversions and transport -----------------------------------------------------------------


class JsonError(GatewayError, ValueError):
    """A JSON value does not fit the message: names the field path and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


class ClientDisconnected(GatewayError):
    """The HTTP client went away while its request body was being read."""


class RpcError(GatewayError):
    """A call that ended without OK: its status code, message and both sets of metadata.

    Both gRPC clients raise it (metadata in wire form). `code` is a `Code` for the canonical
    codes and a plain `int` for anything else a backend sends.
    """

    def __init__(
        self,
        code: int,
        message: str,
        initial: Metadata | None = None,
        trailing: Metadata | None = None,
        *,
        transparent_retry: bool = False,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.initial: Metadata = initial or []
        self.trailing: Metadata = trailing or []
        # True when the server never saw the call (GOAWAY above it, REFUSED_STREAM).
        self.transparent_retry = transparent_retry

    def __str__(self) -> str:
        return f"gRPC status {int(self.code)}: {self.message}"

    def details_bin(self) -> bytes | None:
        """The `grpc-status-details-bin` trailer (a serialized google.rpc.Status), if sent."""
        for key, value in self.trailing:
            if key == b"grpc-status-details-bin":
                try:
                    return decode_binary(value)
                except (binascii.Error, ValueError):
                    return None
        return None


class TransportError(GatewayError):
    """An HTTP/2 connection to a backend cannot be used (closed, never ready, going away)."""


class ProtocolError(TransportError):
    """The backend broke HTTP/2; `h2_code` is the error code the GOAWAY carries back."""

    def __init__(self, h2_code: int, message: str) -> None:
        super().__init__(message)
        self.h2_code = h2_code
