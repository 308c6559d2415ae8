"""Tallies of the hostile-input tests: how many cases each surface was tried with and what
it answered, asserted (every case a clear 4xx), printed as one line per surface and written
to ``build/hostile/<surface>.json`` for the report."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import settings

OUT = Path(__file__).resolve().parent.parent / "build" / "hostile"

#: Hypothesis settings of every hostile fuzz test: derandomized (the examples follow from the
#: test's code, so CI is deterministic), no example database, no per-example deadline.
FUZZ = settings(derandomize=True, database=None, deadline=None)


class Tally:
    """The answers one surface gave; `done()` checks them and reports."""

    def __init__(self, surface: str) -> None:
        self.surface = surface
        self.statuses: Counter[str] = Counter()
        self.cases = 0

    def add(self, status: int | str, times: int = 1) -> None:
        self.cases += times
        self.statuses[str(status)] += times

    def extend(self, statuses: Iterable[int | str]) -> None:
        for s in statuses:
            self.add(s)

    def done_if_tried(self, allowed: Iterable[str] = ()) -> None:
        """`done()` for a tally a fuzz test of the same file fills; skips when it did not run
        (a `-k` selection)."""
        if not self.cases:
            pytest.skip(f"{self.surface}: run together with its fuzz test")
        self.done(allowed)

    def done(self, allowed: Iterable[str] = ()) -> None:
        """Asserts every answer was a 4xx (or starts with one of `allowed`: "2" for a surface
        where accepting the input verbatim is the right answer), then reports."""
        ok = ("4", *allowed)
        bad = {s: n for s, n in self.statuses.items() if not s.startswith(ok)}
        assert self.cases > 0, f"{self.surface}: no case was tried"
        summary = ", ".join(f"{s} x{n}" for s, n in sorted(self.statuses.items()))
        line = f"hostile[{self.surface}]: {self.cases} cases, answers {summary}"
        print(line)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{self.surface}.json").write_text(
            json.dumps({"surface": self.surface, "cases": self.cases, "answers": self.statuses})
        )
        assert not bad, f"{line}: not a clear client error: {bad}"
