"""Path templates of `google.api.http` rules: the grammar, compiled to regular expressions.

Grammar (google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Each template compiles to one regular expression over the raw (still percent-encoded) path.
Captured values are then decoded: a single-segment variable fully, a multi-segment variable
except `%2F`, which stays encoded as http.proto says. A template that breaks the grammar is a
TemplateError naming it and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from colonnade.gateway.errors import TemplateError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_SLASH = re.compile(r"%2[fF]")
__all__ = ["Template", "TemplateError", "Variable", "decode_variable", "parse_template"]


@dataclass(frozen=True)
class Variable:
    """A `{field.path=segments}` of a template."""

    field_path: tuple[str, ...]
    single_segment: bool  # `{x}` / `{x=*}`: fully percent-decoded
    group: str


@dataclass
class Template:
    """A parsed path template compiled to a regular expression."""

    source: str
    regex: re.Pattern[str]
    variables: list[Variable]
    verb: str


def _split_top(text: str, sep: str) -> list[str]:
    """Splits on `sep` outside braces."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TemplateError("unbalanced '}'")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise TemplateError("unbalanced '{'")
    parts.append("".join(cur))
    return parts


def parse_template(source: str) -> Template:
    """Parses and compiles one path template; TemplateError when it is malformed."""
    if not source.startswith("/"):
        raise TemplateError(f"{source!r}: a template starts with '/'")
    body = source[1:]
    verb = ""
    # The verb starts at the first ':' outside braces in the last segment, so it may contain
    # colons itself: `/v1/{uuid}:custom:custom` has the verb `custom:custom` (grpc-gateway's
    # parser and mux, which matches a request's last segment against `:` + the route's verb).
    segments = _split_top(body, "/")
    last = segments[-1]
    depth = 0
    for i, ch in enumerate(last):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ":" and depth == 0:
            verb = last[i + 1 :]
            segments[-1] = last[:i]
            if not verb:
                raise TemplateError(f"{source!r}: empty verb")
            break
    variables: list[Variable] = []
    regex_parts: list[str] = []
    seen_double = False

    def segment_regex(seg: str, inside: bool) -> tuple[str, bool]:
        """Regex of one non-variable segment, and whether it is '**'."""
        nonlocal seen_double
        if seen_double:
            raise TemplateError(f"{source!r}: '**' must be the last segment")
        if seg == "*":
            return "[^/]+", False
        if seg == "**":
            seen_double = True
            return ".*", True
        if not seg or any(c in seg for c in "{}*="):
            raise TemplateError(f"{source!r}: bad segment {seg!r}")
        return re.escape(seg), False

    for seg in segments:
        if seg.startswith("{"):
            if not seg.endswith("}"):
                raise TemplateError(f"{source!r}: a variable must be a whole segment ({seg!r})")
            inner = seg[1:-1]
            path, _, sub = inner.partition("=")
            if not _IDENT.match(path):
                raise TemplateError(f"{source!r}: bad field path {path!r}")
            subsegs = sub.split("/") if sub else ["*"]
            if any("{" in s for s in subsegs):
                raise TemplateError(f"{source!r}: variables cannot nest")
            pieces = [segment_regex(s, True)[0] for s in subsegs]
            group = f"v{len(variables)}"
            variables.append(Variable(tuple(path.split(".")), subsegs == ["*"], group))
            regex_parts.append(f"(?P<{group}>{'/'.join(pieces)})")
        else:
            regex_parts.append(segment_regex(seg, False)[0])
    names = [v.field_path for v in variables]
    if len(set(names)) != len(names):
        raise TemplateError(f"{source!r}: a field is bound twice")
    pattern = "/" + "/".join(regex_parts) + (":" + re.escape(verb) if verb else "")
    return Template(source, re.compile(pattern + r"\Z"), variables, verb)


def decode_variable(raw: str, single_segment: bool) -> str:
    """Percent-decodes a captured value (multi-segment values keep %2F encoded)."""
    if "%" not in raw:
        return raw
    if single_segment:
        return unquote(raw)
    return "%2F".join(unquote(part) for part in _SLASH.split(raw))
