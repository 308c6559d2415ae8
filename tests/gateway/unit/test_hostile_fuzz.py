"""Property-based fuzzing of the gateway's request-side parsers with hostile input: the
path-template matcher, the query-parameter parser and the JSON → proto converter.

Each accepts any input and either succeeds or raises its own error naming the field (which the
gateway answers with a 400), never anything else (which would be a 500). Examples are
derandomized (tests/hostile.py FUZZ), so CI sees the same cases on every run.
"""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.errors import BadRequest, JsonError
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.routing import Route, Router
from tests.gateway.unit.conftest import Builder
from tests.hostile import FUZZ, Tally

SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

#: Characters that matter to a path or query parser, and some that should not appear at all.
_HOSTILE_CHARS = (
    "/%:.*?&=+#;,[]{}'\"\\ \t\r\n\x00\x7f\u00e9\u202e\ud7ff\U0001f600" + string.hexdigits
)
_PIECES = [
    "%",
    "%2",
    "%2F",
    "%2f",
    "%25",
    "%00",
    "%ff",
    "%C3%28",
    "%ED%A0%80",
    "%F4%90%80%80",
    "..",
    "../",
    "%2e%2e",
    "::",
    ":custom",
    "//",
    "things",
    "shelves",
    "v1",
    "1",
    "-1",
    "1e309",
    "NaN",
    "true",
    "' OR 1=1 --",
    "\x00",
    "\ufffd",
]
hostile_text = st.lists(
    st.one_of(st.sampled_from(_PIECES), st.text(alphabet=_HOSTILE_CHARS, max_size=4)),
    max_size=8,
).map("".join)


# ------------------------------------------------------------------------------ path templates

_PATH_TALLY = Tally("path-matcher-fuzz")


@pytest.fixture(scope="module")
def router(routes: list[Route]) -> Router[str]:
    return Router((r, r.method) for r in routes)


@settings(FUZZ, max_examples=200, suppress_health_check=SLOW_OK)
@given(
    method=st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "get", "TRACE", ""]),
    prefix=st.sampled_from(
        ["/v1/things/", "/v1/shelves/", "/v1/alt/", "/v1/files/", "/v1/", "/", ""]
    ),
    rest=hostile_text,
)
def test_the_path_matcher_takes_any_path(
    router: Router[str], method: str, prefix: str, rest: str
) -> None:
    path = prefix + rest
    match = router.match(method, path)
    allowed = router.allowed(path)
    if match is None:
        _PATH_TALLY.add(405 if allowed else 404)
        return
    _PATH_TALLY.add(200)
    assert method in allowed or match.route.http_method == "*"
    for value in match.values:
        assert isinstance(value, str)


def test_path_matcher_tally() -> None:
    _PATH_TALLY.done_if_tried(allowed=("2",))


# ------------------------------------------------------------------------------ query strings

_QUERY_TALLY = Tally("query-parser-fuzz")
_NAMES = [
    "fInt32",
    "f_int64",
    "fUint64",
    "fDouble",
    "fFloat",
    "fBool",
    "fString",
    "fBytes",
    "fEnum",
    "fMessage.note",
    "fMessage.child.count",
    "fMessage",
    "rInt64",
    "rEnum",
    "mString[k]",
    "mInt[1]",
    "mInt[x]",
    "mEnum[1]",
    "wTimestamp",
    "wDuration",
    "wFieldMask",
    "wInt64",
    "wBool",
    "wStruct",
    "wAny",
    "oString",
    "oInt64",
    "unknownName",
    "fMessage.",
    ".x",
    "",
]


@st.composite
def _queries(draw: st.DrawFn) -> str:
    pairs = draw(
        st.lists(
            st.tuples(st.one_of(st.sampled_from(_NAMES), hostile_text), hostile_text), max_size=5
        )
    )
    sep = draw(st.sampled_from(["&", "&&", ";", "&=&"]))
    return sep.join(f"{k}={v}" if draw(st.booleans()) else k for k, v in pairs)


@settings(FUZZ, max_examples=150, suppress_health_check=SLOW_OK)
@given(query=_queries(), strict=st.booleans())
def test_the_query_parser_takes_any_query(builder: Builder, query: str, strict: bool) -> None:
    try:
        builder("Echo", "GET", strict=strict).build([], query, None)
    except BadRequest as exc:
        assert exc.reason, exc  # a reason, and a field unless the query as a whole is bad
        assert exc.field or "query" in exc.reason.lower() or "parameter" in str(exc).lower()
        _QUERY_TALLY.add(400)
    else:
        _QUERY_TALLY.add(200)


def test_query_parser_tally() -> None:
    _QUERY_TALLY.done_if_tried(allowed=("2",))


# ------------------------------------------------------------------------------ JSON bodies

_JSON_TALLY = Tally("json-converter-fuzz")
_JSON_NAMES = [
    "fInt32",
    "fInt64",
    "fUint32",
    "fUint64",
    "fSint32",
    "fFixed64",
    "fDouble",
    "fFloat",
    "fBool",
    "fString",
    "fBytes",
    "fEnum",
    "fMessage",
    "rInt64",
    "rString",
    "rMessage",
    "rEnum",
    "mString",
    "mInt",
    "mMessage",
    "mEnum",
    "mBytes",
    "oString",
    "oInt64",
    "oMessage",
    "wTimestamp",
    "wDuration",
    "wFieldMask",
    "wStruct",
    "wValue",
    "wListValue",
    "wAny",
    "wEmpty",
    "wDouble",
    "wInt64",
    "wUint64",
    "wBool",
    "wString",
    "wBytes",
    "rTimestamp",
    "rAny",
    "mValue",
    "f_int32",
    "unknown",
]
_json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.sampled_from(
        [
            "",
            "NaN",
            "-Infinity",
            "1e999",
            "0x10",
            "1.5",
            "9223372036854775808",
            "\ud800",
            "AAAA",
            "***",
            "COLOR_RED",
            "2026-13-45T25:61:61Z",
            "1.5s",
            "-315576000001s",
            "type.googleapis.com/google.protobuf.Empty",
            "' OR 1=1 --",
            "\x00",
        ]
    ),
    st.text(max_size=6),
)
_json_any = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.one_of(st.sampled_from(["@type", "value", "1", "true", "k"]), st.text(max_size=3)),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(FUZZ, max_examples=200, suppress_health_check=SLOW_OK)
@given(body=st.dictionaries(st.sampled_from(_JSON_NAMES), _json_any, max_size=5))
def test_the_json_converter_takes_any_json(
    registry: Registry, converters: Converters, body: dict[str, Any]
) -> None:
    desc = registry.pool.FindMessageTypeByName("conformance.v1.Everything")
    try:
        converters.from_json(desc, body)
    except JsonError as exc:
        assert exc.reason
        _JSON_TALLY.add(400)
    else:
        _JSON_TALLY.add(200)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("depth", [20, 200, 2_000, 20_000])
@pytest.mark.parametrize("field", ["wStruct", "wValue", "wListValue", "mValue", "fMessage"])
def test_deep_nesting_is_a_bad_request_naming_the_field(
    builder: Builder, field: str, depth: int
) -> None:
    """Protobuf parses at most 100 levels of messages (upb's limit), in the gateway and in the
    backend: a JSON body that would build a deeper one is a 400 naming the field, not an
    exception from deep inside or a message the backend cannot read."""
    value: Any = {"count": 1} if field == "fMessage" else 1
    for i in range(depth):
        value = {"child": value} if field == "fMessage" else [value] if i % 2 else {"k": value}
    body = {field: {"k": value} if field in ("wStruct", "mValue") else value}
    if field == "wListValue":
        body = {field: [value]}
    try:
        builder("Echo", "POST").build([], "", body)
    except BadRequest as exc:
        _JSON_TALLY.add(400)
        assert depth > 20 and "nested too deeply" in exc.reason, exc
        assert exc.field.startswith(field), exc
    else:
        _JSON_TALLY.add(200)
        assert depth == 20, "nesting beyond protobuf's limit was accepted"


def test_json_converter_tally() -> None:
    _JSON_TALLY.done_if_tried(allowed=("2",))
