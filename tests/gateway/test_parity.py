"""grpc-gateway parity (issue 15) over real sockets, against a grpc.aio backend, once per gRPC
client: client and bidirectional streaming, repeated path variables, a verb with colons,
trailers on errors, streamed HttpBody framing and errors, PATCH masks into Struct keys, and
the opt-in form-encoded POST to a GET route."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from tests.gateway.conftest import Stack, start_stack
from tests.gateway.httpclient import Connection, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _ndjson(messages: list[dict[str, object]], sep: bytes = b"\n") -> bytes:
    return sep.join(json.dumps(m).encode() for m in messages)


# ------------------------------------------------------------------------------ client streaming


@pytest.mark.parametrize("n", [0, 1, 10_000])
async def test_client_stream_of_n_messages(stack: Stack, n: int) -> None:
    body = _ndjson([{"id": f"m{i}", "size": str(i)} for i in range(n)])
    r = await request(
        stack.port, "POST", "/v1/collect", body=body, headers={"content-type": "application/json"}
    )
    assert r.status == 200, r.body
    expected = {
        "count": n,
        "total": str(sum(range(n))),
        "first": "m0" if n else "",
        "last": f"m{n - 1}" if n else "",
    }
    assert r.json() == expected


async def test_client_stream_concatenated_and_chunked_anywhere(stack: Stack) -> None:
    # Go's json.Decoder framing: values back to back or split across chunks at any byte.
    body = b'{"id":"a","size":1}{"id":"b\\"}","size":2} \r\n\t{"id":"c","size":"3"}'
    chunks = [body[i : i + 3] for i in range(0, len(body), 3)]
    r = await request(stack.port, "POST", "/v1/collect", chunked_body=chunks)
    assert r.status == 200, r.body
    assert r.json() == {"count": 3, "total": "6", "first": "a", "last": "c"}


async def test_client_stream_backend_error_mid_stream(stack: Stack) -> None:
    body = _ndjson([{"id": "a"}, {"id": "b", "failCode": 9}, {"id": "c"}])
    r = await request(stack.port, "POST", "/v1/collect", body=body)
    assert r.status == 400, r.body  # FAILED_PRECONDITION
    assert r.json()["code"] == 9 and r.json()["message"] == "failed at message 1"


async def test_client_stream_malformed_message_is_400(stack: Stack) -> None:
    r = await request(stack.port, "POST", "/v1/collect", body=b'{"id":"a"}\n{"size":"x"}\n')
    assert r.status == 400 and r.json()["code"] == 3
    r = await request(stack.port, "POST", "/v1/collect", body=b'{"id":"a"}\n{"id":')
    assert r.status == 400 and "ends inside a JSON value" in r.json()["message"]
    r = await request(
        stack.port, "POST", "/v1/collect", body=b"id=a", headers={"content-type": "text/plain"}
    )
    assert r.status == 415


async def test_client_stream_limits_each_message_not_the_stream(strict_stack: Stack) -> None:
    # strict_stack has --max-body-bytes 1024
    many = _ndjson([{"id": f"m{i}", "size": "1"} for i in range(200)])  # ~5 KB in all
    r = await request(strict_stack.port, "POST", "/v1/collect", body=many)
    assert r.status == 200 and r.json()["count"] == 200
    big = _ndjson([{"id": "a"}, {"id": "x" * 2000}])
    r = await request(strict_stack.port, "POST", "/v1/collect", body=big)
    assert r.status == 413 and r.json()["code"] == 8


# ------------------------------------------------------------------------------ bidi streaming


async def _open_chat(stack: Stack, headers: str = "") -> Connection:
    conn = Connection(stack.port)
    await conn.open()
    assert conn.writer is not None
    conn.writer.write(
        (
            "POST /v1/chat HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            f"transfer-encoding: chunked\r\n{headers}\r\n"
        ).encode()
    )
    await conn.writer.drain()
    return conn


async def _chunk(conn: Connection, data: bytes) -> None:
    assert conn.writer is not None
    conn.writer.write(b"%x\r\n%s\r\n" % (len(data), data))
    await conn.writer.drain()


async def _line(conn: Connection) -> object:
    assert conn.reader is not None
    size = int(await asyncio.wait_for(conn.reader.readline(), 5), 16)
    data = await conn.reader.readexactly(size + 2)
    return json.loads(data[:-2])


async def test_bidi_first_response_before_the_request_body_ends(stack: Stack) -> None:
    conn = await _open_chat(stack)
    try:
        assert conn.reader is not None
        head = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head
        assert await _line(conn) == {"result": {"text": "hello", "failCode": 0}}
        await _chunk(conn, b'{"text": "one"}\n')
        assert await _line(conn) == {"result": {"text": "echo: one", "failCode": 0}}
        await _chunk(conn, b'{"text": "tw')  # half a message: nothing is sent yet
        await _chunk(conn, b'o"}')
        assert await _line(conn) == {"result": {"text": "echo: two", "failCode": 0}}
        await _chunk(conn, b"")  # the end of the request body
        assert await _line(conn) == {"result": {"text": "bye", "failCode": 0}}
        assert await asyncio.wait_for(conn.reader.readline(), 5) == b"0\r\n"
    finally:
        await conn.close()


async def test_bidi_empty_request_stream(stack: Stack) -> None:
    r = await request(stack.port, "POST", "/v1/chat", body=b"")
    assert r.status == 200 and r.chunked
    assert [line["result"]["text"] for line in r.lines()] == ["hello", "bye"]


async def test_bidi_backend_error_mid_stream(stack: Stack) -> None:
    body = _ndjson([{"text": "a"}, {"text": "b", "failCode": 10}, {"text": "c"}])
    r = await request(stack.port, "POST", "/v1/chat", body=body, headers={"te": "trailers"})
    assert r.status == 200  # the first message was out before the error
    lines = r.lines()
    assert [x["result"]["text"] for x in lines[:-1]] == ["hello", "echo: a"]
    assert lines[-1] == {"error": {"code": 10, "message": "chat broke at 'b'", "details": []}}


async def test_bidi_malformed_message_ends_the_stream_with_an_error_line(stack: Stack) -> None:
    conn = await _open_chat(stack)
    try:
        assert conn.reader is not None
        await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), 5)
        assert await _line(conn) == {"result": {"text": "hello", "failCode": 0}}
        await _chunk(conn, b'{"text": 5}\n')
        last = await _line(conn)
        assert isinstance(last, dict) and last["error"]["code"] == 3  # the client can tell
        assert "text" in last["error"]["message"]
    finally:
        await conn.close()
    # Before the first response message, the same error is the response's status.
    r = await request(stack.port, "POST", "/v1/chat", body=b"[1]")
    assert (r.status, r.json()["code"]) == (400, 3) if not r.chunked else r.lines()[-1]["error"]


# ------------------------------------------------------------------------------ server streaming


async def test_server_stream_backend_error_mid_stream(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things:stream?count=2&failCode=14")
    assert r.status == 200
    assert r.lines()[-1] == {"error": {"code": 14, "message": "stream broke", "details": []}}


# ------------------------------------------------------------------------------ path templates


async def test_repeated_scalar_path_variables_are_comma_separated(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/many/a,b%2Cc,d")
    assert r.status == 200, r.body
    assert r.json() == {"ids": ["a", "b", "c", "d"], "sizes": []}
    r = await request(stack.port, "GET", "/v1/many/x/sizes/1,-2,3?ids=ignored")
    assert r.json() == {"ids": ["x"], "sizes": ["1", "-2", "3"]}
    r = await request(stack.port, "GET", "/v1/many/x/sizes/1,two")
    assert r.status == 400 and r.json()["details"][0]["fieldViolations"][0]["field"] == "sizes"


async def test_verb_with_colons_after_a_variable(stack: Stack) -> None:
    r = await request(stack.port, "POST", "/v1/abc:custom:custom", json_body={})
    assert r.status == 200, r.body
    assert r.json()["id"] == "abc" and r.json()["name"] == "custom:custom"
    r = await request(stack.port, "POST", "/v1/abc:custom", json_body={})
    assert r.status == 404


# ------------------------------------------------------------------------------ trailers on errors


async def test_error_response_carries_grpc_trailers_with_te_trailers(stack: Stack) -> None:
    target = "/v1/fail/5?trailers[t-one]=1&trailers[t-two]=2"
    r = await request(stack.port, "GET", target, headers={"te": "trailers"})
    assert r.status == 404 and r.json()["code"] == 5
    assert r.chunked and r.trailers == {"grpc-trailer-t-one": "1", "grpc-trailer-t-two": "2"}
    assert set(r.headers["trailer"].split(", ")) == {"grpc-trailer-t-one", "grpc-trailer-t-two"}
    # grpc-status-details-bin is the body's details, never a trailer
    assert r.json()["details"][0]["@type"].endswith("BadRequest")
    r = await request(stack.port, "GET", target)  # without TE: trailers, none
    assert not r.chunked and r.trailers == {}


# ------------------------------------------------------------------------------ HttpBody streams


async def test_http_body_stream_error_mid_stream(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/blobs/broken:download")
    assert r.status == 200 and r.headers["content-type"] == "text/plain"
    data, error = r.body.split(b"\n", 1)
    assert data == b"hello "
    assert json.loads(error) == {"error": {"code": 15, "message": "download broke", "details": []}}
    assert error.endswith(b"\n")


# ------------------------------------------------------------------------------ PATCH masks


async def test_patch_mask_descends_into_struct_and_value_keys(stack: Stack) -> None:
    # grpc-gateway's published example (examples/internal/integration TestEchoPatch).
    body = {
        "struct_field": {"struct_key": {"layered_struct_key": "struct_val"}},
        "value_field": {"value_struct_key": "value_struct_val"},
    }
    r = await request(stack.port, "PATCH", "/v1/dynamic", json_body=body)
    assert r.status == 200, r.body
    assert r.json()["body"] == {
        "structField": body["struct_field"],
        "valueField": body["value_field"],
    }
    assert sorted(r.json()["updateMask"].split(",")) == [
        "structField.structKey.layeredStructKey",  # FieldMask JSON is lowerCamel
        "valueField.valueStructKey",
    ]
    assert sorted(stack.servicer.last.update_mask.paths) == [
        "struct_field.struct_key.layered_struct_key",
        "value_field.value_struct_key",
    ]


# ------------------------------------------------------------------------------ form POST as GET


async def test_form_post_to_a_get_route_is_refused_by_default(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/search",
        body=b"pageSize=3",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status == 405 and r.headers["allow"] == "GET"


@pytest.fixture(scope="session")
async def form_stack(conformance_set, grpc_client: str) -> AsyncIterator[Stack]:  # type: ignore[no-untyped-def]
    s, stop = await start_stack(conformance_set, form_post_as_get=True, grpc_client=grpc_client)
    yield s
    await stop()


async def test_form_post_to_a_get_route_when_enabled(form_stack: Stack) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = await request(
        form_stack.port, "POST", "/v1/search?tags=q", body=b"pageSize=3&tags=f", headers=form
    )
    assert r.status == 200, r.body
    assert [t["tags"] for t in r.json()["things"]] == [["f", "q"]] * 3  # form, then URL
    r = await request(form_stack.port, "POST", "/v1/search", body=b"pageSize=3")
    assert r.status == 405  # only a form body falls back
    override = {**form, "x-http-method-override": "DELETE"}  # still not honoured
    r = await request(form_stack.port, "POST", "/v1/things/x", body=b"a=b", headers=override)
    assert r.status == 200 and r.json()["id"] == "x"  # GET /v1/things/{id}, not the DELETE
    r = await request(form_stack.port, "POST", "/v1/fail/5", body=b"", headers=form)
    assert r.status == 404  # the GET's own error: it was served
    r = await request(form_stack.port, "POST", "/v1/nowhere", body=b"a=b", headers=form)
    assert r.status == 404
