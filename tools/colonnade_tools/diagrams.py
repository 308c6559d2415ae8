"""``make diagrams``: render ``docs/*.dot`` to SVG with Graphviz, next to their source.

Each SVG records the SHA-256 of the source it was rendered from (an XML comment), so a test
can tell, without Graphviz, that a committed picture is stale: the source changed and
``make diagrams`` was not run.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from colonnade_tools.devstack.runstate import ROOT
from colonnade_tools.devstack.system import GRAPHVIZ_HINT, find_dot

DOCS = ROOT / "docs"
MARK = "<!-- rendered from {name} sha256:{digest} by make diagrams -->"


def source_mark(source: Path) -> str:
    """The comment an SVG rendered from ``source`` (as it is now) carries."""
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    return MARK.format(name=source.name, digest=digest)


def render(source: Path, dot: str) -> Path:
    """``source`` (``x.dot``) → ``x.svg`` with its source mark after the XML declaration."""
    svg = subprocess.run(
        [dot, "-Tsvg", str(source)], check=True, capture_output=True, text=True
    ).stdout
    head, _, rest = svg.partition("\n")
    target = source.with_suffix(".svg")
    target.write_text(f"{head}\n{source_mark(source)}\n{rest}")
    return target


def main() -> int:
    """Render every ``docs/*.dot``."""
    dot = find_dot()
    if dot is None:
        raise SystemExit(GRAPHVIZ_HINT)
    for source in sorted(DOCS.glob("*.dot")):
        print(f"rendered {render(source, dot).relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
