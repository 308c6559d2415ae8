"""The router (routing.py): precedence, 405 and its `Allow`, and start-up checks of rules."""

from __future__ import annotations

import pytest
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from colonnade.gateway.descriptors import build_registry
from colonnade.gateway.errors import DescriptorError
from colonnade.gateway.routing import Route, Router, load_routes


@pytest.fixture(scope="module")
def router(routes: list[Route]) -> Router[str]:
    return Router((r, f"{r.http_method} {r.method}") for r in routes)


@pytest.mark.parametrize(
    ("method", "path", "target", "values"),
    [
        ("GET", "/v1/things/7", "GET GetThing", ["7"]),
        ("GET", "/v1/shelves/s%2F1/things/t%20x", "GET GetNested", ["shelves/s%2F1/things/t x"]),
        ("GET", "/v1/alt/a/b", "GET GetNested", ["a/b"]),
        ("POST", "/v1/alt/a/b:lookup", "POST GetNested", ["a/b"]),
        ("GET", "/v1/things:stream", "GET StreamThings", []),
        ("PATCH", "/v1/things/7", "PATCH UpdateThing", ["7"]),
        ("PUT", "/v1/things/7", "PUT UpdateThing", ["7"]),
        ("HEAD", "/v1/things/7", "HEAD Head", ["7"]),
        ("DELETE", "/v1/things/7", "DELETE DeleteThing", ["7"]),
    ],
)
def test_match_finds_the_route_and_decodes_values(
    router: Router[str], method: str, path: str, target: str, values: list[str]
) -> None:
    match = router.match(method, path)
    assert match is not None
    assert match.target == target and match.values == values
    assert f"{match.route.http_method} {match.route.method}" == target


def test_the_route_registered_last_wins(routes: list[Route]) -> None:
    get_thing = next(r for r in routes if r.method == "GetThing")
    match = Router([(get_thing, "first"), (get_thing, "second")]).match("GET", "/v1/things/1")
    assert match is not None and match.target == "second"  # grpc-gateway prepends handlers


def test_unknown_path_and_wrong_method(router: Router[str]) -> None:
    assert router.match("GET", "/v2/nothing") is None
    assert router.allowed("/v2/nothing") == []
    assert router.match("POST", "/v1/things/7") is None
    assert router.allowed("/v1/things/7") == ["DELETE", "GET", "HEAD", "PATCH", "PUT"]


def test_routes_carry_what_their_rules_say(routes: list[Route]) -> None:
    update = next(r for r in routes if r.method == "UpdateThing" and r.http_method == "PATCH")
    assert update.body == "thing" and update.body_field is not None
    assert update.patch_mask_field is not None and update.patch_mask_field.name == "update_mask"
    put = next(r for r in routes if r.method == "UpdateThing" and r.http_method == "PUT")
    assert put.patch_mask_field is None
    listing = next(r for r in routes if r.method == "ListThings")
    assert listing.response_field is not None and listing.response_field.name == "things"
    upload = next(r for r in routes if r.method == "Upload")
    assert upload.http_body_request and upload.http_body_response
    create = next(r for r in routes if r.method == "CreateThing")
    assert create.success_status == 201
    assert not any(r.method == "Hidden" for r in routes)  # no rule: not reachable


def _service_with(rule: http_pb2.HttpRule, *, client_streaming: bool = False) -> list[Route]:
    """Routes of a one-method service whose request has a string, a repeated string and a
    message field, with `rule` as its HttpRule."""
    f = descriptor_pb2.FileDescriptorProto(
        name="t/v1/t.proto",
        package="t.v1",
        syntax="proto3",
        dependency=["google/api/annotations.proto"],
    )
    req = f.message_type.add(name="Req")
    req.field.add(name="id", number=1, type=9, label=1)
    req.field.add(name="tags", number=2, type=9, label=3)
    req.field.add(name="inner", number=3, type=11, label=1, type_name=".t.v1.Req")
    method = f.service.add(name="Svc").method.add(
        name="Call", input_type=".t.v1.Req", output_type=".t.v1.Req"
    )
    method.client_streaming = client_streaming
    method.options.Extensions[annotations_pb2.http].CopyFrom(rule)
    return load_routes(build_registry([descriptor_pb2.FileDescriptorSet(file=[f])]))


def test_a_valid_rule_builds_a_route() -> None:
    (route,) = _service_with(http_pb2.HttpRule(get="/v1/{id}"))
    assert route.grpc_path == "/t.v1.Svc/Call"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (http_pb2.HttpRule(get="/v1/{nope}"), "has no field 'nope'"),
        (http_pb2.HttpRule(get="/v1/{inner}"), "path variable inner is a message"),
        (http_pb2.HttpRule(get="/v1/{tags.x}"), "tags is repeated and cannot be traversed"),
        (http_pb2.HttpRule(get="/v1/**/x"), "'\\*\\*' must be the last segment"),
        (http_pb2.HttpRule(post="/v1/x", body="nope"), "body field 'nope' is not a top-level"),
        (http_pb2.HttpRule(get="/v1/x", response_body="nope"), "response_body 'nope' not found"),
        (http_pb2.HttpRule(), "an HttpRule without a pattern"),
    ],
)
def test_invalid_rules_stop_start_up_naming_the_method(
    rule: http_pb2.HttpRule, message: str
) -> None:
    with pytest.raises(DescriptorError, match=message):
        _service_with(rule)


def test_a_repeated_scalar_can_be_a_path_variable() -> None:
    (route,) = _service_with(http_pb2.HttpRule(get="/v1/{tags}"))
    assert route.path_fields[0][0].name == "tags"  # comma-separated, as grpc-gateway binds it


def test_client_streaming_rules_take_whole_messages_and_no_path_variables() -> None:
    (route,) = _service_with(http_pb2.HttpRule(post="/v1/x", body="*"), client_streaming=True)
    assert route.client_streaming
    with pytest.raises(DescriptorError, match='needs body "\\*"'):
        _service_with(http_pb2.HttpRule(post="/v1/x", body="inner"), client_streaming=True)
    with pytest.raises(DescriptorError, match="cannot have path variables"):
        _service_with(http_pb2.HttpRule(post="/v1/{id}", body="*"), client_streaming=True)


def test_additional_bindings_cannot_nest() -> None:
    rule = http_pb2.HttpRule(get="/v1/a")
    extra = rule.additional_bindings.add(get="/v1/b")
    extra.additional_bindings.add(get="/v1/c")
    with pytest.raises(DescriptorError, match="additional_bindings cannot nest"):
        _service_with(rule)
