"""Edge policies read from the contracts: merging, validation, start-up refusal."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2

from colonnade.api.v1 import policy_pb2
from colonnade.descriptors import descriptor_set
from colonnade.gateway.app import Gateway
from colonnade.gateway.config import GatewayConfig
from colonnade.gateway.descriptors import build_registry, read_descriptor_set
from colonnade.gateway.edge import contract_policies
from colonnade.gateway.errors import ConfigError, DescriptorError
from colonnade.runtime.policy import PolicyError, merge

BACKENDS = [
    "colonnade.catalog.v1=127.0.0.1:1",
    "colonnade.catalog.v2=127.0.0.1:1",
    "colonnade.orders.v1=127.0.0.1:2",
]


def P(**fields: object) -> policy_pb2.Policy:
    return policy_pb2.Policy(**fields)  # type: ignore[arg-type]


def test_method_fields_override_the_service_default() -> None:
    default = P(rate_limit_class="standard", scopes=["svc.read"])
    own = merge("pkg.S.M", default, P(cache_ttl_seconds=30))
    assert own.scopes == ("svc.read",) and own.rate_limit_class == "standard"
    assert own.cache_ttl == 30 and own.cache_varies_by_caller  # non-public: keyed by caller
    public = merge("pkg.S.M", default, P(public=True, rate_limit_class="read"))
    assert public.public and public.scopes == () and not public.cache_varies_by_caller
    replaced = merge("pkg.S.M", P(public=True), P(scopes=["a.write"]))
    assert not replaced.public and replaced.scopes == ("a.write",)
    shared = merge("pkg.S.M", None, P(scopes=["a"], cache_varies_by_caller=False))
    assert not shared.cache_varies_by_caller


@pytest.mark.parametrize(
    ("default", "own", "message"),
    [
        (None, None, "declares no policy"),
        (P(rate_limit_class="x"), None, "neither public nor names a scope"),
        (None, P(public=True, scopes=["a"]), "public or names scopes, not both"),
        (None, P(scopes=["bad scope"]), "not an OAuth scope token"),
        (None, P(public=True, rate_limit_class="Read!"), "short lower-case name"),
        (None, P(public=True, cache_ttl_seconds=7200), "over 3600"),
    ],
)
def test_bad_policies_are_refused_naming_the_method(
    default: policy_pb2.Policy | None, own: policy_pb2.Policy | None, message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as info:
        merge("pkg.S.M", default, own)
    assert "pkg.S.M" in str(info.value)


def test_every_catalog_and_orders_method_declares_a_policy() -> None:
    registry = build_registry([read_descriptor_set(descriptor_set())])
    policies = contract_policies(registry)
    methods = {m.full_name for s in registry.services() for m in s.methods}
    assert {p.method for p in policies.values()} == methods
    assert len(methods) >= 14
    get = policies["/colonnade.catalog.v1.CatalogService/GetProduct"]
    assert get.public and get.cache_ttl == 30
    reserve = policies["/colonnade.catalog.v1.CatalogService/ReserveStock"]
    assert reserve.scopes == ("catalog.reservations.write",)


def _without_policy(method: str) -> descriptor_pb2.FileDescriptorSet:
    fds = read_descriptor_set(descriptor_set())
    service_name, name = method.rsplit(".", 1)
    for f in fds.file:
        for s in f.service:
            if f"{f.package}.{s.name}" != service_name:
                continue
            s.options.ClearExtension(policy_pb2.default_policy)  # type: ignore[arg-type]
            for m in s.method:
                if m.name == name:
                    m.options.ClearExtension(policy_pb2.policy)  # type: ignore[arg-type]
    return fds


def test_the_gateway_refuses_to_start_with_a_method_without_policy() -> None:
    registry = build_registry([_without_policy("colonnade.orders.v1.OrdersService.ShipOrder")])
    cfg = GatewayConfig(descriptors=[str(descriptor_set())], backends=BACKENDS)
    with pytest.raises(DescriptorError, match=r"OrdersService\.ShipOrder declares no policy"):
        Gateway(cfg, registry)
    # A plain transcoder (policies off) does not read them.
    Gateway(GatewayConfig(descriptors=cfg.descriptors, backends=BACKENDS, policies=False), registry)


def test_a_rate_limit_class_without_limits_is_refused() -> None:
    registry = build_registry([read_descriptor_set(descriptor_set())])
    cfg = GatewayConfig(
        descriptors=[str(descriptor_set())], backends=BACKENDS, rate_limits=["read=1/10"]
    )
    with pytest.raises(ConfigError, match=r"class '(standard|write)'"):
        Gateway(cfg, registry)
