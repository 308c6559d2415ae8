"""The event ⇄ ASGI conversions alone (no network): the fields each payload format carries."""

from __future__ import annotations

import asyncio
import base64

import pytest

from colonnade.serverless.events import EventError, ResponseCollector, to_scope
from tests.serverless.apigw import http_event, rest_event


def test_rest_event_multi_value_query_and_headers_are_encoded_again() -> None:
    event = rest_event(
        "GET",
        "/v1/things/a%20b?tags=x%26y&tags=z&q=%C3%A9",
        [("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-For", "198.51.100.2")],
    )
    scope, body = to_scope(event)
    assert scope["raw_path"] == b"/v1/things/a%20b"
    assert scope["query_string"] == b"tags=x%26y&tags=z&q=%C3%A9"
    assert scope["headers"] == [
        (b"x-forwarded-for", b"198.51.100.1"),
        (b"x-forwarded-for", b"198.51.100.2"),
    ]
    assert scope["client"] == ("203.0.113.7", 0) and body == b""


def test_http_event_keeps_raw_path_and_query_and_strips_the_stage() -> None:
    event = http_event("GET", "/v1/things/a%2Fb?x=1&x=2", [("Cookie", "a=1; b=2")], stage="beta")
    scope, _ = to_scope(event)
    assert scope["raw_path"] == b"/v1/things/a%2Fb"
    assert scope["query_string"] == b"x=1&x=2"
    assert (b"cookie", b"a=1; b=2") in scope["headers"]


def test_base64_bodies_are_decoded_and_bad_ones_name_the_field() -> None:
    event = rest_event("POST", "/v1/blobs/b:upload", [], b"\x00\xff", binary=True)
    scope, body = to_scope(event)
    assert body == b"\x00\xff" and (b"content-length", b"2") in scope["headers"]
    event["body"] = "not base64!"
    with pytest.raises(EventError, match="body: isBase64Encoded"):
        to_scope(event)


def test_an_event_without_its_fields_is_refused_by_name() -> None:
    with pytest.raises(EventError, match="httpMethod and path"):
        to_scope({"resource": "/"})
    with pytest.raises(EventError, match="rawPath"):
        to_scope({"version": "2.0", "requestContext": {}})


def _collected(headers: list[tuple[bytes, bytes]], body: bytes) -> ResponseCollector:
    collector = ResponseCollector()

    async def send() -> None:
        await collector({"type": "http.response.start", "status": 201, "headers": headers})
        await collector({"type": "http.response.body", "body": body, "more_body": True})
        await collector({"type": "http.response.body", "body": b"", "more_body": False})

    asyncio.run(send())
    return collector


def test_results_text_binary_cookies_and_framing_headers() -> None:
    json_answer = _collected(
        [
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"vary", b"a"),
            (b"vary", b"b"),
            (b"set-cookie", b"s=1"),
            (b"set-cookie", b"t=2"),
        ],
        b"{}",
    )
    v1 = json_answer.to_result(v2=False)
    assert v1 == {
        "statusCode": 201,
        "isBase64Encoded": False,
        "body": "{}",
        "multiValueHeaders": {
            "content-type": ["application/json"],
            "vary": ["a", "b"],
            "set-cookie": ["s=1", "t=2"],
        },
    }
    v2 = json_answer.to_result(v2=True)
    assert v2["headers"] == {"content-type": "application/json", "vary": "a, b"}
    assert v2["cookies"] == ["s=1", "t=2"]
    binary = _collected([(b"content-type", b"application/octet-stream")], b"\x00\x01")
    result = binary.to_result(v2=True)
    assert result["isBase64Encoded"] and base64.b64decode(result["body"]) == b"\x00\x01"
