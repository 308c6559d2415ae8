"""Fixtures of the gateway's unit tests: the conformance routes, compiled, without servers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from colonnade.gateway.descriptors import Registry
from colonnade.gateway.jsonconv import Converters
from colonnade.gateway.routing import Route, load_routes
from colonnade.gateway.transcode import RequestBuilder

Builder = Callable[..., RequestBuilder]


@pytest.fixture(scope="session")
def routes(registry: Registry) -> list[Route]:
    """Every route of the conformance service, in declaration order."""
    return load_routes(registry)


@pytest.fixture(scope="session")
def route_of(routes: list[Route]) -> Callable[[str, str], Route]:
    """The route of (gRPC method name, HTTP method)."""

    def find(method: str, http_method: str) -> Route:
        return next(r for r in routes if r.method == method and r.http_method == http_method)

    return find


@pytest.fixture(scope="session")
def builder(registry: Registry, route_of: Callable[[str, str], Route]) -> Builder:
    """A RequestBuilder for (gRPC method, HTTP method), lenient or `strict`."""
    lenient = Converters(registry)
    strict_conv = Converters(registry, ignore_unknown_fields=False)

    def make(method: str, http_method: str, *, strict: bool = False) -> RequestBuilder:
        conv = strict_conv if strict else lenient
        return RequestBuilder(route_of(method, http_method), registry, conv, strict=strict)

    return make
