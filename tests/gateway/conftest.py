"""Fixtures of the gateway tests: the compiled conformance proto and the gateway registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from colonnade.gateway.descriptors import Registry, load_registry
from colonnade.gateway.jsonconv import Converters
from tests.gateway.protos import compile_conformance


@pytest.fixture(scope="session")
def conformance_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conformance descriptor set; its _pb2 modules are importable afterwards."""
    return compile_conformance(tmp_path_factory.mktemp("conformance"))


@pytest.fixture(scope="session")
def pb(conformance_set: Path):  # type: ignore[no-untyped-def]
    """The generated conformance_pb2 module (default descriptor pool)."""
    from conformance.v1 import conformance_pb2

    return conformance_pb2


@pytest.fixture(scope="session")
def registry(conformance_set: Path) -> Registry:
    return load_registry([conformance_set])


@pytest.fixture(scope="session")
def converters(registry: Registry) -> Converters:
    return Converters(registry)
