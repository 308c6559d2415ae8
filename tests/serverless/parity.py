"""Comparing the Lambda handler's answers with the gateway's for the same request."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.gateway.httpclient import request
from tests.serverless.apigw import http_event, request_body, rest_event, result_body, result_headers

#: Headers of the HTTP connection, not of the answer: a proxy answer has none of them.
CONNECTION_HEADERS = {
    "date",
    "server",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
}
#: A fixed request id on every request, so `x-request-id` (echoed) compares too.
REQUEST_ID = "serverless-parity-0001"


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    json_body: Any = None
    body: bytes | None = None
    binary: bool = False
    rest: bool = True  # False: a REST API event cannot carry it (decoded `path`)

    def all_headers(self) -> list[tuple[str, str]]:
        out = [("x-request-id", REQUEST_ID), *self.headers]
        if self.json_body is not None:
            out.append(("content-type", "application/json"))
        return out


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    def __str__(self) -> str:
        return f"{self.status} {self.headers} {self.body!r}"


def _body(headers: dict[str, str], raw: bytes) -> Any:
    if headers.get("content-type", "").startswith("application/json") and raw:
        return json.loads(raw)
    return raw


async def via_gateway(port: int, case: Case) -> Answer:
    r = await request(
        port,
        case.method,
        case.target,
        headers=dict(case.all_headers()),
        body=request_body(case.json_body, case.body),
    )
    headers = {k: v for k, v in r.headers.items() if k not in CONNECTION_HEADERS}
    return Answer(r.status, headers, _body(headers, r.body))


Invoke = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


async def via_lambda(invoke: Invoke, case: Case, shape: str) -> Answer:
    make = rest_event if shape == "rest" else http_event
    event = make(
        case.method,
        case.target,
        case.all_headers(),
        request_body(case.json_body, case.body),
        binary=case.binary,
    )
    result = await invoke(event)
    headers = result_headers(result)
    assert "content-length" not in headers  # API Gateway sets it
    return Answer(result["statusCode"], headers, _body(headers, result_body(result)))


async def assert_same(port: int, invoke: Invoke, case: Case) -> Answer:
    """The gateway's answer equals the handler's for both event shapes; returns it."""
    expected = await via_gateway(port, case)
    for shape in ("rest", "http") if case.rest else ("http",):
        got = await via_lambda(invoke, case, shape)
        assert (got.status, got.headers, got.body) == (
            expected.status,
            expected.headers,
            expected.body,
        ), f"{case.method} {case.target} ({shape} event):\n lambda  {got}\n gateway {expected}"
    return expected
