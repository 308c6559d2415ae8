"""Orders' own settings: where the catalogs are and how the recovery pass is timed."""

from __future__ import annotations

import pytest

from colonnade.orders.app import RECOVERY_GRACE, RECOVERY_INTERVAL, OrdersSettings
from colonnade.runtime.settings import SettingsError

BASE = {"DATABASE_URL": "postgresql://u@127.0.0.1:5432/db", "CACHE_URL": "none"}


def test_defaults() -> None:
    settings = OrdersSettings.from_env(BASE)
    assert settings.catalog_target == "127.0.0.1:50051"
    assert (settings.recovery_interval, settings.recovery_grace) == (
        RECOVERY_INTERVAL,
        RECOVERY_GRACE,
    )


def test_several_catalogs_and_short_recovery() -> None:
    settings = OrdersSettings.from_env(
        {
            **BASE,
            "CATALOG_TARGET": "ipv4:127.0.0.1:1,127.0.0.1:2",
            "ORDERS_RECOVERY_INTERVAL": "500ms",
            "ORDERS_RECOVERY_GRACE": "4",
        }
    )
    assert settings.catalog_target == "ipv4:127.0.0.1:1,127.0.0.1:2"
    assert (settings.recovery_interval, settings.recovery_grace) == (0.5, 4.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CATALOG_TARGET", "a:1,b:2"),  # several need gRPC's ipv4: form
        ("CATALOG_TARGET", "ipv4:127.0.0.1:1,127.0.0.1"),
        ("CATALOG_TARGET", "catalog"),
        ("ORDERS_RECOVERY_GRACE", "0.5"),  # at least a second: live sagas must not race it
        ("ORDERS_RECOVERY_INTERVAL", "soon"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        OrdersSettings.from_env({**BASE, name: value})
