"""The code table (status.py) and the error hierarchy (errors.py)."""

from __future__ import annotations

import orjson
import pytest
from google.rpc import code_pb2

from colonnade.gateway import errors
from colonnade.gateway.responses import error_reply, status_error_page
from colonnade.gateway.status import Code, code_name, http_status
from colonnade.runtime import errors as runtime_errors

# google/rpc/code.proto's "HTTP Mapping", as grpc-gateway's runtime/errors.go has it.
HTTP_MAPPING = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


def test_the_table_is_code_pb2_with_the_http_mapping() -> None:
    assert {c.name: int(c) for c in Code} == dict(code_pb2.Code.items())
    assert {c.name: c.http_status for c in Code} == HTTP_MAPPING
    for c in Code:
        assert http_status(c) == http_status(int(c)) == c.http_status
        assert code_name(int(c)) == c.name


def test_codes_outside_the_table() -> None:
    assert http_status(42) == 500  # grpc-gateway's choice
    assert code_name(42) == "CODE_42"


def test_the_runtime_domain_codes_are_rows_of_the_same_table() -> None:
    for c in runtime_errors.Code:
        assert Code[c.name] == c.value


def test_codes_render_as_numbers() -> None:
    assert orjson.dumps({"code": Code.NOT_FOUND}) == b'{"code":5}'
    # mypy sees an enum member and an int literal; an IntEnum member equals its number
    assert f"{Code.UNAVAILABLE}" == "14" and Code.NOT_FOUND == 5  # type: ignore[comparison-overlap]


def test_status_errors_take_their_http_status_from_the_code() -> None:
    e = errors.StatusError(Code.ABORTED, "stale", details=[{"@type": "x"}])
    assert e.http == 409
    assert e.body() == {"code": 10, "message": "stale", "details": [{"@type": "x"}]}
    assert errors.StatusError(99, "odd").http == 500


@pytest.mark.parametrize(
    ("error", "http", "code", "headers"),
    [
        (errors.MethodNotAllowed("no", ["GET", "PUT"]), 405, 12, [(b"allow", b"GET, PUT")]),
        (errors.MethodNotAllowed("only preflights"), 405, 12, []),
        (errors.ContentTooLarge(1024), 413, 8, []),
        (errors.UnsupportedMediaType(b"text/plain"), 415, 3, []),
    ],
)
def test_named_errors(
    error: errors.StatusError, http: int, code: int, headers: list[tuple[bytes, bytes]]
) -> None:
    assert (error.http, error.code, error.headers) == (http, code, headers)


def test_bad_request_carries_a_field_violation() -> None:
    e = errors.BadRequest("product.price", "must be positive")
    assert e.body() == {
        "code": 3,
        "message": "invalid value for 'product.price': must be positive",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "product.price", "description": "must be positive"}],
            }
        ],
    }
    assert errors.BadRequest("", "not JSON").message == "not JSON"


def test_error_reply_is_a_status_body_with_the_errors_headers() -> None:
    reply = error_reply(errors.MethodNotAllowed("no", ["GET"]), [(b"x-request-id", b"r")])
    assert reply.status == 405
    assert reply.headers == [
        (b"x-request-id", b"r"),
        (b"allow", b"GET"),
        (b"content-type", b"application/json"),
    ]
    assert orjson.loads(reply.body) == {"code": 12, "message": "no", "details": []}


def test_the_http_servers_own_answers_in_the_gateways_format() -> None:
    kind, body = status_error_page(400, 'malformed HTTP request: bad "x"')
    assert kind == b"application/json"
    assert orjson.loads(body) == {
        "code": 3,
        "message": 'malformed HTTP request: bad "x"',
        "details": [],
    }
    assert orjson.loads(status_error_page(500, "internal error")[1])["code"] == 13


def test_one_hierarchy() -> None:
    for cls in (
        errors.ConfigError,
        errors.BackendConfigError,
        errors.DescriptorError,
        errors.TemplateError,
    ):
        assert issubclass(cls, errors.ConfigurationError) and issubclass(cls, ValueError)
    for base in (
        errors.ConfigurationError,
        errors.StatusError,
        errors.JsonError,
        errors.ClientDisconnected,
        errors.RpcError,
        errors.TransportError,
    ):
        assert issubclass(base, errors.GatewayError)
    assert issubclass(errors.ProtocolError, errors.TransportError)
    assert issubclass(errors.BadRequest, errors.StatusError)
