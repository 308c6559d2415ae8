"""Backend targets naming several addresses (balancer.py): parsing and the backend map."""

from __future__ import annotations

import pytest

from colonnade.gateway.backend import BackendMap
from colonnade.gateway.balancer import split_addresses
from colonnade.gateway.config import load
from colonnade.gateway.errors import BackendConfigError


@pytest.mark.parametrize(
    ("target", "addresses"),
    [
        ("127.0.0.1:1", ["127.0.0.1:1"]),
        ("dns:///catalog:50051", ["dns:///catalog:50051"]),
        ("ipv4:127.0.0.1:1", ["ipv4:127.0.0.1:1"]),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", ["127.0.0.1:1", "127.0.0.1:2"]),
        ("a:1, b:2", ["a:1", "b:2"]),
    ],
)
def test_a_target_names_its_addresses(target: str, addresses: list[str]) -> None:
    assert split_addresses(target) == addresses


@pytest.mark.parametrize("target", ["ipv4:127.0.0.1:1,", "a:1,b", "a:1,,b:2"])
def test_a_malformed_address_list_is_refused_naming_the_target(target: str) -> None:
    with pytest.raises(BackendConfigError, match="backend"):
        split_addresses(target)


def test_the_environment_list_keeps_a_target_of_several_addresses_whole() -> None:
    # COLONNADE_GATEWAY_BACKENDS is a comma-separated list: split before the map sees it
    cfg = load(
        env={
            "COLONNADE_GATEWAY_BACKENDS": "colonnade.catalog.v1=ipv4:h:1,h:2,"
            "colonnade.orders.v1=h:3"
        }
    )
    backends = BackendMap.parse(cfg.backends)
    assert backends.target("colonnade.catalog.v1.CatalogService") == "ipv4:h:1,h:2"
    assert backends.target("colonnade.orders.v1.OrdersService") == "h:3"
