"""Fixtures of the OpenAPI tests: the catalog's and the conformance descriptor sets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import CATALOG_DESCRIPTORS as CATALOG_SET
from tests.gateway.protos import compile_conformance


@pytest.fixture(scope="session")
def catalog_set() -> Path:
    assert CATALOG_SET.exists(), "run `make gen` first (make test does)"
    return CATALOG_SET


@pytest.fixture(scope="session")
def conformance_descriptors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_conformance(tmp_path_factory.mktemp("openapi-conformance"))
