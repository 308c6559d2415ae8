"""The README's pictures: each committed SVG was rendered from its source as it is now
(``make diagrams`` after editing a ``.dot``), and the README shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from colonnade_tools.diagrams import DOCS, source_mark

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(DOCS.glob("*.dot"))


@pytest.mark.parametrize("source", SOURCES, ids=[s.name for s in SOURCES])
def test_the_rendered_svg_is_from_the_current_source(source: Path) -> None:
    svg = source.with_suffix(".svg")
    assert svg.is_file(), f"{svg.name} is missing: run make diagrams"
    assert source_mark(source) in svg.read_text(), f"{svg.name} is stale: run make diagrams"


def test_the_readme_shows_the_architecture_and_the_screenshot() -> None:
    first_screen = (ROOT / "README.md").read_text().split("\n## ", 2)[:2]
    assert SOURCES, "no diagram source in docs/"
    assert "](docs/architecture.svg)" in "\n".join(first_screen)
    assert "](docs/shop.png)" in "\n".join(first_screen)
    assert (DOCS / "shop.png").stat().st_size > 10_000
