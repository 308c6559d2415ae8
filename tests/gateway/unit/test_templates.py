"""Path templates (templates.py): the http.proto grammar, its errors, and percent-decoding."""

from __future__ import annotations

import re

import pytest

from colonnade.gateway.errors import DescriptorError, TemplateError
from colonnade.gateway.templates import decode_variable, parse_template


@pytest.mark.parametrize(
    ("source", "path", "values"),
    [
        ("/v1/things", "/v1/things", []),
        ("/v1/things/{id}", "/v1/things/7", ["7"]),
        ("/v1/things/{id=*}", "/v1/things/7", ["7"]),
        ("/v1/{name=shelves/*/things/*}", "/v1/shelves/s/things/t", ["shelves/s/things/t"]),
        ("/v1/alt/{name=**}", "/v1/alt/a/b/c", ["a/b/c"]),
        ("/v1/files/{path=**}:scan", "/v1/files/d/f.txt:scan", ["d/f.txt"]),
        ("/v1/wild/*/things/{id}", "/v1/wild/x/things/7", ["7"]),
        ("/v1/things:stream", "/v1/things:stream", []),
        ("/v1/{a.b.c}/{d}", "/v1/x/y", ["x", "y"]),
        ("/v1/{name}", "/v1/a:b", ["a:b"]),  # the last variable swallows a `:suffix`
    ],
)
def test_templates_match_what_they_should(source: str, path: str, values: list[str]) -> None:
    t = parse_template(source)
    m = t.regex.match(path)
    assert m is not None, (source, path)
    assert [m.group(v.group) for v in t.variables] == values


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("/v1/things/{id}", "/v1/things/a/b"),  # `*` is one segment
        ("/v1/things/{id}", "/v1/things/"),  # and not empty
        ("/v1/things", "/v1/things/"),
        ("/v1/things:stream", "/v1/things"),
        ("/v1/{name=shelves/*}", "/v1/racks/1"),
        ("/v1/things", "/v1/%74hings"),  # literals match as sent
    ],
)
def test_templates_do_not_match_what_they_should_not(source: str, path: str) -> None:
    assert parse_template(source).regex.match(path) is None


def test_variables_verb_and_segment_kinds() -> None:
    t = parse_template("/v1/{thing.name=shelves/*}/x/{id}:run")
    assert t.verb == "run"
    assert [(v.field_path, v.single_segment) for v in t.variables] == [
        (("thing", "name"), False),
        (("id",), True),
    ]


def test_a_verb_may_contain_colons_after_a_variable() -> None:
    t = parse_template("/v1/{uuid}:custom:custom")  # grpc-gateway's example
    assert t.verb == "custom:custom"
    m = t.regex.match("/v1/abc:custom:custom")
    assert m is not None and m.group(t.variables[0].group) == "abc"
    assert t.regex.match("/v1/abc:custom") is None
    m = t.regex.match("/v1/a:b:custom:custom")  # the verb is matched as a suffix, as in Go
    assert m is not None and m.group(t.variables[0].group) == "a:b"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("v1/things", "starts with '/'"),
        ("/v1/{id", "unbalanced '{'"),
        ("/v1/id}", "unbalanced '}'"),
        ("/v1/**/things", "'**' must be the last segment"),
        ("/v1/{path=**}/x", "'**' must be the last segment"),
        ("/v1//things", "bad segment ''"),
        ("/v1/th*ngs", "bad segment 'th*ngs'"),
        ("/v1/x{id}", "bad segment 'x{id}'"),
        ("/v1/{id}x", "a variable must be a whole segment"),
        ("/v1/{1id}", "bad field path '1id'"),
        ("/v1/{a..b}", "bad field path 'a..b'"),
        ("/v1/{a={b}}", "variables cannot nest"),
        ("/v1/{id}/{id}", "a field is bound twice"),
        ("/v1/things:", "empty verb"),
    ],
)
def test_malformed_templates_name_the_problem(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)) as info:
        parse_template(source)
    assert isinstance(info.value, DescriptorError)  # start-up refuses it, exit code 2
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("raw", "single", "decoded"),
    [
        ("plain", True, "plain"),
        ("a%2Fb%20c", True, "a/b c"),
        ("s%2F1/t%20x", False, "s%2F1/t x"),  # multi-segment: %2F stays encoded
        ("s%2f1", False, "s%2F1"),
        ("caf%C3%A9", True, "café"),
    ],
)
def test_captured_values_are_percent_decoded(raw: str, single: bool, decoded: str) -> None:
    assert decode_variable(raw, single) == decoded
