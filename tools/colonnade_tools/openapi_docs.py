"""``make openapi``: the committed API documents in ``openapi/``, regenerated from the protos.

The documents live in the repository (so API changes show up in review), which an installed
``colonnade-openapi`` knows nothing of; this checkout-side tool writes them, and a test
compares them with :func:`committed_documents`.

    python -m colonnade_tools.openapi_docs          # rewrite openapi/*.json
"""

from __future__ import annotations

import sys
from pathlib import Path

from colonnade.descriptors import descriptor_set
from colonnade.gateway.openapi import COMMITTED, dumps, generate
from colonnade_tools.deploy.layout import REPO_ROOT


def committed_documents(descriptors: list[Path] | None = None) -> dict[Path, str]:
    """Path → text of every committed document, generated from the current protos."""
    sets = descriptors or [descriptor_set()]
    return {
        REPO_ROOT / path: dumps(generate(sets, fmt))  # type: ignore[arg-type]
        for fmt, path in COMMITTED.items()
    }


def main() -> int:
    """Writes every format to its committed path under ``openapi/``."""
    for path, text in committed_documents().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
