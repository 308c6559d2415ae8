"""The one configuration style (runtime/config.py): parsers every process shares, and layers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from colonnade.gateway.__main__ import load_config, parse_args
from colonnade.runtime.bootstrap import BootstrapSettings
from colonnade.runtime.config import (
    Layer,
    Parser,
    SettingsError,
    build,
    parse_bool,
    parse_duration,
    parse_int,
    parse_list,
)
from colonnade.runtime.settings import Settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[("1", True), ("TRUE", True), (" yes ", True), ("on", True), (True, True)],
        *[("0", False), ("False", False), ("no", False), ("off", False), ("", False)],
        (False, False),
    ],
)
def test_one_boolean_syntax(raw: object, expected: bool) -> None:
    assert parse_bool("X", raw) is expected


def test_a_bad_boolean_names_the_setting() -> None:
    with pytest.raises(SettingsError, match="X must be true or false, got 'maybe'"):
        parse_bool("X", "maybe")


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [("2.5", 2.5), (3, 3.0), ("250ms", 0.25), ("5s", 5.0), (" 2m ", 120.0), ("1h", 3600.0)],
)
def test_one_duration_syntax(raw: object, seconds: float) -> None:
    assert parse_duration("T", raw) == seconds


@pytest.mark.parametrize(("raw", "message"), [("soon", "duration"), ("-1", "between"), ("2d", "")])
def test_a_bad_duration_names_the_setting(raw: str, message: str) -> None:
    with pytest.raises(SettingsError, match=f"T must be.*{message}"):
        parse_duration("T", raw, 0, 600)


def test_integers_and_lists() -> None:
    assert parse_int("N", " 7 ", 0, 10) == 7
    with pytest.raises(SettingsError, match="N must be between 0 and 10"):
        parse_int("N", "11", 0, 10)
    with pytest.raises(SettingsError, match="N must be an integer"):
        parse_int("N", True)
    assert parse_list("L", "a, b,,c") == ["a", "b", "c"]
    assert parse_list("L", {"k": "v"}) == ["k=v"]
    assert parse_list("L", ["x", 1]) == ["x", "1"]


@dataclass(frozen=True)
class _Example:
    port: int = 1
    debug: bool = False
    name: str = "n"


def test_later_layers_win_and_unknown_keys_name_their_layer() -> None:
    parsers: dict[str, Parser] = {"port": parse_int, "debug": parse_bool}
    layers: list[Layer] = [
        ("file", {"port": 2, "name": "f"}),
        ("env", {"port": "3"}),
        ("flags", {"port": None}),
    ]
    assert build(_Example, layers, parsers) == _Example(port=3, debug=False, name="f")
    with pytest.raises(SettingsError, match="env: unknown setting 'prot'"):
        build(_Example, [("env", {"prot": "3"})], parsers)
    with pytest.raises(SettingsError, match="env: port must be an integer"):
        build(_Example, [("env", {"port": "x"})], parsers)


def test_services_and_gateway_read_booleans_and_durations_alike() -> None:
    settings = Settings.from_env({"LOG_ACCESS": "off", "SHUTDOWN_GRACE_SECONDS": "1500ms"})
    assert settings.log_access is False and settings.shutdown_grace_seconds == 1.5
    env = {"COLONNADE_GATEWAY_STRICT": "on", "COLONNADE_GATEWAY_DEFAULT_TIMEOUT": "1500ms"}
    cfg = load_config(parse_args(["--descriptors", "x", "--backend", "a=b:1"]), env)
    assert cfg.strict is True and cfg.default_timeout == 1.5
    boot = BootstrapSettings.from_env(
        {"DB_HOST": "h", "DB_NAME": "d", "DB_IAM_AUTH": "on", "DB_WAIT_SECONDS": "2m"}
    )
    assert boot.iam_auth is True and boot.wait_seconds == 120.0


def test_gateway_config_is_frozen() -> None:
    cfg = load_config(parse_args(["--descriptors", "x", "--backend", "a=b:1"]), {})
    with pytest.raises(AttributeError):
        cfg.port = 1  # type: ignore[misc]
