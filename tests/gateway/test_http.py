"""HTTP conformance: every HttpRule feature, error case and header rule over real sockets."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from tests.gateway.conftest import Stack, start_stack
from tests.gateway.httpclient import Connection, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


# ------------------------------------------------------------------------------ path templates


async def test_single_segment_variable_is_fully_decoded(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things/a%2Fb%20c")
    assert r.status == 200, r.body
    assert r.json()["id"] == "a/b c"
    assert r.json()["size"] == str(2**40)  # int64 as a string
    assert r.headers["content-type"] == "application/json"


async def test_multi_segment_nested_variable_keeps_encoded_slash(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/shelves/s%2F1/things/t%20x?view=full")
    assert r.status == 200, r.body
    assert r.json()["name"] == "shelves/s%2F1/things/t x"
    assert r.json()["id"] == "full"  # query parameter on an unbound field


async def test_additional_bindings_double_star(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/alt/a/b/c")
    assert r.json()["name"] == "a/b/c"
    r = await request(stack.port, "POST", "/v1/alt/x/y:lookup", json_body={"view": "v"})
    assert r.status == 200, r.body
    assert r.json() == {**r.json(), "name": "x/y", "id": "v"}


async def test_double_star_then_verb_with_body_field(stack: Stack) -> None:
    r = await request(
        stack.port, "POST", "/v1/files/dir/sub/f.txt:scan", json_body={"note": "n", "count": 3}
    )
    assert r.status == 200, r.body
    assert r.json()["name"] == "dir/sub/f.txt"
    assert r.json()["inner"] == {"note": "n", "count": 3, "child": None}


async def test_unbound_wildcard_segment(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/wild/anything/things/7")
    assert r.status == 200 and r.json()["id"] == "7"


async def test_verb_route_is_not_confused_with_variable(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things:stream?count=1")
    assert r.status == 200
    assert r.lines() == [{"result": r.lines()[0]["result"]}]


async def test_custom_head_method(stack: Stack) -> None:
    r = await request(stack.port, "HEAD", "/v1/things/h1")
    assert r.status == 200
    assert r.body == b""
    assert stack.servicer.last.id == "h1"


# ------------------------------------------------------------------------------ bodies


async def test_body_star_maps_whole_message_and_success_status(stack: Stack) -> None:
    thing = {"id": "1", "name": "n", "size": "5", "color": "COLOR_RED", "tags": ["a", "b"]}
    r = await request(stack.port, "POST", "/v1/things?name=ignored", json_body=thing)
    assert r.status == 201, r.body
    assert r.json()["name"] == "n"  # with body "*" the query string is not read
    assert r.json()["color"] == "COLOR_RED"
    assert r.json()["createTime"] is None  # unset message: null (grpc-gateway EmitUnpopulated)


async def test_proto_names_accepted_enum_by_number(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/things",
        json_body={"create_time": "2024-01-02T03:04:05Z", "color": 2},
    )
    assert r.status == 201, r.body
    assert r.json()["createTime"] == "2024-01-02T03:04:05Z"
    assert r.json()["color"] == "COLOR_GREEN"


async def test_body_field_and_path_wins_over_body(stack: Stack) -> None:
    r = await request(
        stack.port,
        "PATCH",
        "/v1/things/from-path",
        json_body={"id": "from-body", "name": "n"},
    )
    assert r.status == 200, r.body
    assert r.json()["id"] == "from-path"


async def test_strict_rejects_path_body_collision(strict_stack: Stack) -> None:
    r = await request(
        strict_stack.port, "PATCH", "/v1/things/p", json_body={"id": "other", "name": "n"}
    )
    assert r.status == 400
    assert r.json()["code"] == 3
    assert "thing.id" in r.json()["message"]
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "thing.id"


async def test_patch_mask_built_from_body_paths(stack: Stack) -> None:
    r = await request(
        stack.port,
        "PATCH",
        "/v1/things/p1",
        json_body={"name": "n", "inner": {"note": "x", "child": {"count": 1}}, "tags": ["t"]},
    )
    assert r.status == 200, r.body
    mask = stack.servicer.last.update_mask.paths
    assert list(mask) == ["name", "inner.note", "inner.child.count", "tags"]


async def test_patch_mask_sent_by_client_is_kept(stack: Stack) -> None:
    r = await request(
        stack.port, "PATCH", "/v1/things/p1?updateMask=name,createTime", json_body={"name": "n"}
    )
    assert r.status == 200, r.body
    assert list(stack.servicer.last.update_mask.paths) == ["name", "create_time"]


async def test_put_binding_has_no_automatic_mask(stack: Stack) -> None:
    r = await request(stack.port, "PUT", "/v1/things/p2", json_body={"thing": {"name": "n"}})
    assert r.status == 200, r.body
    assert list(stack.servicer.last.update_mask.paths) == []
    assert stack.servicer.last.thing.id == "p2"


async def test_response_body_selects_one_field(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things?pageSize=3&tags=x&tags=y")
    assert r.status == 200, r.body
    things = r.json()
    assert isinstance(things, list) and len(things) == 3
    assert things[0]["tags"] == ["x", "y"]


async def test_delete_204_has_no_body(stack: Stack) -> None:
    r = await request(stack.port, "DELETE", "/v1/things/d1")
    assert r.status == 204
    assert r.body == b""
    assert "content-type" not in r.headers


async def test_chunked_request_body(stack: Stack) -> None:
    conn = Connection(stack.port)
    try:
        r = await conn.request(
            "POST",
            "/v1/things",
            headers={"content-type": "application/json"},
            chunked_body=[b'{"id": "ch', b'unked"}'],
        )
    finally:
        await conn.close()
    assert r.status == 201, r.body
    assert r.json()["id"] == "chunked"


async def test_keep_alive_and_pipelining(stack: Stack) -> None:
    conn = Connection(stack.port)
    try:
        await conn.send("GET", "/v1/things/one")
        await conn.send("GET", "/v1/things/two")
        first, second = await conn.read(), await conn.read()
        third = await conn.request("GET", "/v1/things/three")
    finally:
        await conn.close()
    assert [first.json()["id"], second.json()["id"], third.json()["id"]] == ["one", "two", "three"]


# ------------------------------------------------------------------------------ query


async def test_query_all_scalar_kinds_and_wkts(stack: Stack) -> None:
    b64 = base64.urlsafe_b64encode(b"\xfb\xff").decode().rstrip("=")
    qs = (
        "fDouble=1.5&fFloat=-2&fInt32=-3&fInt64=9007199254740993&fUint32=4&f_uint64=5"
        "&fSint32=-6&fSint64=-7&fFixed32=8&fFixed64=9&fSfixed32=-10&fSfixed64=-11"
        "&fBool=true&fString=h%C3%A9llo+world&fBytes=" + b64 + "&fEnum=1"
        "&fMessage.note=n&fMessage.child.count=4&fOptional=0"
        "&rInt64=1&rInt64=2&rEnum=COLOR_RED&rEnum=2&rString=a&rString=b"
        "&wTimestamp=2024-05-06T07:08:09.5Z&wDuration=1.5s&wFieldMask=fInt32,fMessage.note"
        "&wInt64=12&wBool=false&wString=s&wBytes=AAE%3D"
        "&wStruct=%7B%22a%22%3A1%7D&wValue=%5B1%2C%22x%22%5D&customName=c"
    )
    r = await request(stack.port, "GET", "/v1/echo?" + qs)
    assert r.status == 200, r.body
    j = r.json()
    assert j["fDouble"] == 1.5 and j["fFloat"] == -2.0 and j["fInt32"] == -3
    assert j["fInt64"] == "9007199254740993" and j["fUint64"] == "5"
    assert j["fSint32"] == -6 and j["fSfixed64"] == "-11" and j["fFixed32"] == 8
    assert j["fBool"] is True and j["fString"] == "héllo world"
    assert base64.b64decode(j["fBytes"]) == b"\xfb\xff"
    assert j["fEnum"] == "COLOR_RED"
    assert j["fMessage"] == {
        "note": "n",
        "count": 0,
        "child": {"note": "", "count": 4, "child": None},
    }
    assert j["fOptional"] == 0  # proto3 optional: presence kept even for zero
    assert j["rInt64"] == ["1", "2"] and j["rEnum"] == ["COLOR_RED", "COLOR_GREEN"]
    assert j["wTimestamp"] == "2024-05-06T07:08:09.500Z"
    assert j["wDuration"] == "1.500s"
    assert j["wFieldMask"] == "fInt32,fMessage.note"
    assert j["wInt64"] == "12" and j["wBool"] is False and j["wString"] == "s"
    assert j["wBytes"] == "AAE="
    assert j["wStruct"] == {"a": 1.0} and j["wValue"] == [1.0, "x"]
    assert j["customName"] == "c"


async def test_query_map_entries_as_grpc_gateway_reads_them(stack: Stack) -> None:
    qs = (
        "mString%5Bcolor%5D=blue&mString[size]=L&m_int[7]=-9007199254740993"
        "&mEnum[18446744073709551615]=COLOR_GREEN&mBytes[k]=AAE%3D"
        "&mValue[v]=%7B%22a%22%3A%5B1%2Ctrue%5D%7D&fMessage.note=n"
    )
    r = await request(stack.port, "GET", "/v1/echo?" + qs)
    assert r.status == 200, r.body
    j = r.json()
    assert j["mString"] == {"color": "blue", "size": "L"}
    assert j["mInt"] == {"7": "-9007199254740993"}
    assert j["mEnum"] == {"18446744073709551615": "COLOR_GREEN"}
    assert j["mBytes"] == {"k": "AAE="}
    assert j["mValue"] == {"v": {"a": [1.0, True]}}
    assert j["fMessage"]["note"] == "n"


@pytest.mark.parametrize(
    ("query", "field", "why"),
    [
        ("mInt[x]=1", "m_int", "expected an integer"),
        ("mInt[1]=1&mInt[1]=2", "m_int", "map key '1' was given 2 values"),
        ("mEnum[1]=PURPLE", "m_enum", "is not a value of conformance.v1.Color"),
        ("mMessage[true]=x", "m_message", "a map of messages cannot be set"),
        ("fInt32[a]=1", "f_int32", "is not a map field"),
    ],
)
async def test_bad_query_map_entries_are_400_naming_the_field(
    stack: Stack, query: str, field: str, why: str
) -> None:
    r = await request(stack.port, "GET", "/v1/echo?" + query)
    assert r.status == 400, r.body
    violation = r.json()["details"][0]["fieldViolations"][0]
    assert violation["field"] == field
    assert why in violation["description"]


async def test_map_without_a_key_is_ignored_or_400_when_strict(
    stack: Stack, strict_stack: Stack
) -> None:
    r = await request(stack.port, "GET", "/v1/echo?mString=x&nope[k]=1")
    assert r.status == 200 and r.json()["mString"] == {}
    r = await request(strict_stack.port, "GET", "/v1/echo?mString=x")
    assert r.status == 400
    assert "name[key]=value" in r.json()["message"]


async def test_unknown_query_parameter_ignored_by_default(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/echo?nope=1&fInt32=2")
    assert r.status == 200 and r.json()["fInt32"] == 2


async def test_unknown_query_parameter_rejected_when_strict(strict_stack: Stack) -> None:
    r = await request(strict_stack.port, "GET", "/v1/echo?nope=1")
    assert r.status == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "nope"
    assert "unknown query parameter" in r.json()["message"]


@pytest.mark.parametrize(
    ("query", "field", "why"),
    [
        ("fInt32=abc", "f_int32", "expected an integer"),
        ("fInt32=99999999999", "f_int32", "out of range"),
        ("fBool=yes", "f_bool", "is not a boolean"),
        ("fEnum=PURPLE", "f_enum", "is not a value of conformance.v1.Color"),
        ("wTimestamp=yesterday", "w_timestamp", "invalid Timestamp"),
        ("fInt32=1&fInt32=2", "f_int32", "is not repeated but was given 2 values"),
        ("fBytes=%25%25", "f_bytes", "not valid base64"),
        ("wStruct=%7Bbad", "w_struct", "is not JSON"),
        ("fMessage=x", "fMessage", "a message field cannot be set"),
    ],
)
async def test_bad_query_values_are_400_naming_the_field(
    stack: Stack, query: str, field: str, why: str
) -> None:
    r = await request(stack.port, "GET", "/v1/echo?" + query)
    assert r.status == 400, r.body
    body = r.json()
    assert body["code"] == 3
    violation = body["details"][0]["fieldViolations"][0]
    assert violation["field"] == field
    assert why in violation["description"]
    assert field in body["message"]


async def test_path_value_of_wrong_type_is_400(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/fail/notanumber")
    assert r.status == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "code"


# ------------------------------------------------------------------------------ JSON errors


@pytest.mark.parametrize(
    ("body", "field", "why"),
    [
        (b'{"size": "big"}', "size", "expected an integer"),
        (b'{"color": "PINK"}', "color", "is not a value"),
        (b'{"tags": "a"}', "tags", "expected an array"),
        (b'{"createTime": 5}', "createTime", "expected a Timestamp string"),
        (b'{"inner": {"count": true}}', "inner.count", "expected an integer"),
        (b"[1]", "", "expected an object"),
    ],
)
async def test_wrong_json_types_are_400_naming_the_field(
    stack: Stack, body: bytes, field: str, why: str
) -> None:
    r = await request(
        stack.port, "POST", "/v1/things", body=body, headers={"content-type": "application/json"}
    )
    assert r.status == 400, r.body
    v = r.json()["details"][0]["fieldViolations"][0]
    assert v["field"] == field and why in v["description"]


async def test_malformed_json_is_400(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/things",
        body=b'{"id": ',
        headers={"content-type": "application/json"},
    )
    assert r.status == 400
    assert "not valid JSON" in r.json()["message"]


async def test_unknown_json_field_ignored_by_default_rejected_when_strict(
    stack: Stack, strict_stack: Stack
) -> None:
    r = await request(stack.port, "POST", "/v1/things", json_body={"id": "1", "bogus": 1})
    assert r.status == 201
    r = await request(strict_stack.port, "POST", "/v1/things", json_body={"id": "1", "bogus": 1})
    assert r.status == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "bogus"


# ------------------------------------------------------------------------------ gateway errors


async def test_unknown_route_is_404_status_json(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v2/nothing")
    assert r.status == 404
    assert r.json() == {"code": 5, "message": "no route for GET /v2/nothing", "details": []}


async def test_wrong_method_is_405_with_allow(stack: Stack) -> None:
    r = await request(stack.port, "POST", "/v1/things/x")
    assert r.status == 405
    assert r.headers["allow"] == "DELETE, GET, HEAD, PATCH, PUT"
    assert r.json()["code"] == 12


async def test_unsupported_content_type_is_415(stack: Stack) -> None:
    r = await request(
        stack.port, "POST", "/v1/things", body=b"id=1", headers={"content-type": "text/csv"}
    )
    assert r.status == 415
    assert "text/csv" in r.json()["message"]


async def test_body_over_limit_is_413(strict_stack: Stack) -> None:
    big = {"id": "x" * 2000}
    r = await request(strict_stack.port, "POST", "/v1/things", json_body=big)
    assert r.status == 413
    assert r.json()["code"] == 8
    conn = Connection(strict_stack.port)  # chunked: no Content-Length to check up front
    try:
        r = await conn.request(
            "POST",
            "/v1/things",
            headers={"content-type": "application/json"},
            chunked_body=[b'{"id": "', b"y" * 1500, b'"}'],
        )
    finally:
        await conn.close()
    assert r.status == 413


async def test_backend_unreachable_is_503(conformance_set, grpc_client: str) -> None:  # type: ignore[no-untyped-def]
    from colonnade_tools.devstack.ports import free_port

    s, stop = await start_stack(conformance_set, grpc_client=grpc_client)
    try:
        s.app.backends.services["conformance.v1.ConformanceService"] = f"127.0.0.1:{free_port()}"
        s.app.backends.pools.clear()
        s.app.backends.start()
        r = await request(s.port, "GET", "/v1/things/x", headers={"grpc-timeout": "2S"})
        assert r.status == 503, r.body
        assert r.json()["code"] == 14
        r = await request(s.port, "GET", "/readyz")
        assert r.status == 503
        assert "UNREACHABLE" in r.json()["message"]
    finally:
        await stop()


@pytest.mark.parametrize(
    ("code", "http"),
    [
        (1, 499),
        (2, 500),
        (3, 400),
        (4, 504),
        (5, 404),
        (6, 409),
        (7, 403),
        (8, 429),
        (9, 400),
        (10, 409),
        (11, 400),
        (12, 501),
        (13, 500),
        (14, 503),
        (15, 500),
        (16, 401),
    ],
)
async def test_grpc_code_table_and_rich_details(stack: Stack, code: int, http: int) -> None:
    r = await request(stack.port, "GET", f"/v1/fail/{code}")
    assert r.status == http
    body = r.json()
    assert body["code"] == code
    assert body["message"] == f"failing with {code}"
    types = [d["@type"] for d in body["details"]]
    assert types == [
        "type.googleapis.com/google.rpc.BadRequest",
        "type.googleapis.com/google.rpc.ErrorInfo",
    ]
    assert body["details"][1]["reason"] == "ASKED"
    if code == 16:
        assert r.headers["www-authenticate"] == "failing with 16"


async def test_plain_abort_without_details(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things/missing")
    assert r.status == 404
    assert r.json() == {"code": 5, "message": "thing missing not found", "details": []}


async def test_unrouted_method_is_not_reachable(stack: Stack) -> None:
    r = await request(stack.port, "POST", "/conformance.v1.ConformanceService/Hidden")
    assert r.status == 404


# ------------------------------------------------------------------------------ headers


async def test_request_headers_become_metadata(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/inspect",
        json_body={},
        headers={
            "authorization": "Bearer t0k",
            "grpc-metadata-tenant": "acme",
            "grpc-metadata-blob-bin": base64.b64encode(b"\x00\x01").decode(),
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "x-forwarded-for": "203.0.113.9",
            "user-agent": "tests/1",
            "x-custom": "not-forwarded",
        },
    )
    assert r.status == 200, r.body
    md = r.json()["metadata"]
    assert md["authorization"] == "Bearer t0k"
    assert md["tenant"] == "acme"
    assert md["blob-bin"] == "0001"
    assert md["traceparent"].startswith("00-0af765")
    assert md["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert md["x-forwarded-host"] == f"127.0.0.1:{stack.port}"
    assert md["grpcgateway-user-agent"] == "tests/1"
    assert "x-custom" not in md
    assert len(md["x-request-id"]) == 32
    assert r.headers["x-request-id"] == md["x-request-id"]


async def test_request_id_is_propagated(stack: Stack) -> None:
    r = await request(
        stack.port, "POST", "/v1/inspect", json_body={}, headers={"x-request-id": "req-42"}
    )
    assert r.json()["metadata"]["x-request-id"] == "req-42"
    assert r.headers["x-request-id"] == "req-42"


async def test_response_metadata_headers_and_trailers(stack: Stack) -> None:
    body = {"headers": {"h-one": "1"}, "trailers": {"t-one": "2"}}
    r = await request(stack.port, "POST", "/v1/inspect", json_body=body, headers={"te": "trailers"})
    assert r.status == 200
    assert r.headers["grpc-metadata-h-one"] == "1"
    assert r.chunked and r.trailers == {"grpc-trailer-t-one": "2"}
    assert r.headers["trailer"] == "grpc-trailer-t-one"
    # without TE: trailers, no trailers and a plain Content-Length body
    r = await request(stack.port, "POST", "/v1/inspect", json_body=body)
    assert r.headers["grpc-metadata-h-one"] == "1"
    assert not r.chunked and r.trailers == {}


async def test_grpc_timeout_becomes_deadline(stack: Stack) -> None:
    r = await request(
        stack.port, "POST", "/v1/inspect", json_body={}, headers={"grpc-timeout": "5S"}
    )
    assert 3 < r.json()["timeRemaining"] <= 5.5  # grpc rounds the sent timeout up
    r = await request(stack.port, "POST", "/v1/inspect", json_body={})
    assert 25 < r.json()["timeRemaining"] <= 30.5  # the configured default
    r = await request(
        stack.port,
        "POST",
        "/v1/inspect",
        json_body={"sleep": "1s"},
        headers={"grpc-timeout": "100m"},
    )
    assert r.status == 504 and r.json()["code"] == 4


async def test_malformed_grpc_timeout_is_400(stack: Stack) -> None:
    r = await request(
        stack.port, "POST", "/v1/inspect", json_body={}, headers={"grpc-timeout": "soon"}
    )
    assert r.status == 400
    assert r.json()["details"][0]["fieldViolations"][0]["field"] == "Grpc-Timeout"


async def test_cors_preflight_and_simple_request(stack: Stack) -> None:
    r = await request(
        stack.port,
        "OPTIONS",
        "/v1/things",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert r.status == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    r = await request(stack.port, "GET", "/v1/things/c", headers={"origin": "https://app.example"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    r = await request(stack.port, "GET", "/v1/things/c", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = await request(
        stack.port,
        "OPTIONS",
        "/v1/things",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert r.status == 403


# ------------------------------------------------------------------------------ streaming


async def test_ndjson_stream(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things:stream?count=3")
    assert r.status == 200 and r.chunked
    assert [line["result"]["id"] for line in r.lines()] == ["0", "1", "2"]
    assert r.body.count(b"\n") == 3


async def test_ndjson_stream_error_mid_stream(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things:stream?count=2&failCode=10")
    assert r.status == 200
    lines = r.lines()
    assert [x["result"]["id"] for x in lines[:2]] == ["0", "1"]
    assert lines[2] == {"error": {"code": 10, "message": "stream broke", "details": []}}


async def test_stream_error_before_first_message_gets_mapped_status(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/things:stream?count=0&failCode=7")
    assert r.status == 403
    assert r.json()["code"] == 7


async def test_sse_stream(stack: Stack) -> None:
    r = await request(
        stack.port,
        "GET",
        "/v1/things:stream?count=2&failCode=13",
        headers={"accept": "text/event-stream"},
    )
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream"
    events = r.body.decode().split("\n\n")
    assert json.loads(events[0].removeprefix("data: "))["id"] == "0"
    assert json.loads(events[1].removeprefix("data: "))["id"] == "1"
    assert events[2].startswith("event: error\ndata: ")
    assert json.loads(events[2].split("data: ", 1)[1])["code"] == 13


async def test_stream_is_flushed_per_message(stack: Stack) -> None:
    conn = Connection(stack.port)
    try:
        await conn.send("GET", "/v1/things:stream?count=2")
        assert conn.reader is not None
        head = await asyncio.wait_for(conn.reader.readuntil(b"\r\n\r\n"), 5)
        assert b"transfer-encoding: chunked" in head
        size = int(await conn.reader.readline(), 16)
        first = json.loads(await conn.reader.readexactly(size))
        assert first == {"result": first["result"]} and first["result"]["id"] == "0"
    finally:
        await conn.close()


# ------------------------------------------------------------------------------ HttpBody


async def test_http_body_request_and_response_raw(stack: Stack) -> None:
    r = await request(
        stack.port,
        "POST",
        "/v1/blobs/b1:upload",
        body=b"\x00raw bytes",
        headers={"content-type": "application/x-thing"},
    )
    assert r.status == 200, r.body
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.body == b"b1:application/x-thing:\x00raw bytes"


async def test_http_body_stream(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/v1/blobs/x:download")
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain"
    assert r.body == b"hello \nworld\n"  # grpc-gateway's delimiter after every message


# ------------------------------------------------------------------------------ health


async def test_healthz_and_readyz(stack: Stack) -> None:
    r = await request(stack.port, "GET", "/healthz")
    assert r.status == 200 and r.json()["status"] == "SERVING"
    r = await request(stack.port, "GET", "/readyz")
    assert r.status == 200
    assert r.json()["backends"] == {"conformance.v1.ConformanceService": "SERVING"}


async def test_readyz_not_serving(conformance_set, grpc_client: str) -> None:  # type: ignore[no-untyped-def]
    from grpc_health.v1 import health_pb2

    s, stop = await start_stack(conformance_set, grpc_client=grpc_client)
    try:
        await s.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)  # type: ignore[attr-defined]
        r = await request(s.port, "GET", "/readyz")
        assert r.status == 503
        assert "NOT_SERVING" in r.json()["message"]
    finally:
        await stop()
