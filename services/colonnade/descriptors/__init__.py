"""Where the descriptor set of Colonnade's own services is: the one place that knows.

``scripts/gen.py`` (``make gen``, and ``pip install`` through ``setup.py``) writes
``colonnade.binpb`` into this package, so it travels with every install: an editable checkout,
a wheel, the image. Everything that reads it (the gateway's default, ``colonnade-openapi``,
``make run``, the bench, the tests) asks :func:`descriptor_set` instead of rebuilding a path
from ``__file__`` or the repository root. The generator itself is the one exception: it runs
before the package is installed, so it writes to the source tree.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The file name of the set inside this package (``scripts/gen.py`` writes it).
NAME = "colonnade.binpb"


def descriptor_set() -> Path:
    """The path of the installed ``FileDescriptorSet`` (it may not exist before ``make gen``).

    The package is always installed as files (never zipped: it carries data files read by
    path), so the resource is a real path that can be handed to subprocesses.
    """
    resource = files(__name__) / NAME
    if not isinstance(resource, Path):  # pragma: no cover - a zipped install
        raise RuntimeError(f"{__name__} must be installed as files, not zipped ({resource})")
    return resource
