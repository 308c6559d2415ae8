"""The shape every service's ``filter`` shares (AIP-160, the subset we support).

A filter is terms joined with ``AND``; a term is ``field operator value`` where the value
is a quoted string, a number or a bare word (an enum value such as ``CONFIRMED``). This
module splits a filter into terms; each service's grammar says which fields, operators
and values it accepts. Every error is an INVALID_ARGUMENT naming ``filter``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from colonnade.runtime.errors import DomainError, FieldViolation, invalid_argument

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<and>AND\b)
      | (?P<field>[A-Za-z_][A-Za-z0-9_.]*)
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Term:
    """``field op value``; ``kind`` is ``string`` (still quoted), ``number`` or ``field``."""

    field: str
    op: str
    kind: str
    value: str


def filter_error(message: str) -> DomainError:
    """An INVALID_ARGUMENT on ``filter`` saying ``message``."""
    return invalid_argument([FieldViolation("filter", message)])


def _tokens(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise filter_error(f"cannot parse {text[pos:].strip()[:20]!r} at offset {pos}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def split_terms(text: str, example: str) -> list[Term]:
    """The terms of ``text`` (none for a blank filter); ``example`` is a valid term."""
    if not text.strip():
        return []
    tokens = _tokens(text)
    terms: list[Term] = []
    i = 0
    while True:
        if i + 3 > len(tokens):
            raise filter_error(f"expected a term such as {example}")
        (k1, name), (k2, op), (k3, value) = tokens[i : i + 3]
        if k1 != "field" or k2 != "op":
            raise filter_error(f"expected `field operator value`, got {name!r} {op!r}")
        terms.append(Term(name, op, k3, value))
        i += 3
        if i == len(tokens):
            return terms
        if tokens[i][0] != "and":
            raise filter_error(f"expected AND between terms, got {tokens[i][1]!r}")
        i += 1
