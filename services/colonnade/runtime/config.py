"""Configuration, one way for every process: typed, frozen, read once, from layers.

A process describes its settings as a frozen dataclass and builds it once at start-up;
nothing else reads ``os.environ``. Values come from layers, each overriding the ones before:

    defaults  <  file (TOML)  <  environment  <  command-line flags

The services (:class:`~colonnade.runtime.settings.Settings`, the database bootstrap) run in
containers whose task definitions set environment variables, so they read the environment
layer only. The gateway, which can front any gRPC service and is also run by hand, reads all
four (``colonnade-gateway --config FILE``, ``COLONNADE_GATEWAY_*``, flags). Every layer goes
through the same parsers: ``true``/``on``/``1`` mean the same to every process, and a duration
is written the same way everywhere. A bad value fails start-up with a :class:`SettingsError`
naming the setting (and, with several layers, the layer it came from).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: ``parser(name, raw) -> value``: ``name`` is what an error message calls the setting.
Parser = Callable[[str, Any], Any]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def parse_bool(name: str, raw: object) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off/""`` (any case); a TOML boolean as it is."""
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


N = TypeVar("N", int, float)


def _number(
    name: str, raw: object, convert: Callable[[Any], N], what: str, minimum: N, maximum: N
) -> N:
    try:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError
        value = convert(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def parse_int(name: str, raw: object, minimum: int = -(2**63), maximum: int = 2**63 - 1) -> int:
    """An integer within ``[minimum, maximum]``."""
    return _number(name, raw, int, "an integer", minimum, maximum)


def parse_float(
    name: str, raw: object, minimum: float = -math.inf, maximum: float = math.inf
) -> float:
    """A number within ``[minimum, maximum]``."""
    return _number(name, raw, float, "a number", minimum, maximum)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(
    name: str, raw: object, minimum: float = 0.0, maximum: float = math.inf
) -> float:
    """A duration in seconds: a plain number is seconds (``2.5``), or ``250ms``, ``5s``,
    ``2m``, ``1h``; within ``[minimum, maximum]`` seconds."""
    match = _DURATION.match(raw) if isinstance(raw, str) else None
    if match is None:
        try:
            return parse_float(name, raw, minimum, maximum)
        except SettingsError as exc:
            if "must be a number" not in str(exc):
                raise
            raise SettingsError(
                f"{name} must be a duration (seconds, or 250ms, 5s, 2m, 1h), got {raw!r}"
            ) from None
    value = float(match[1]) * _UNITS[match[2]]
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum} s, got {raw!r}")
    return value


def parse_list(name: str, raw: object) -> list[str]:
    """Comma-separated text, a list, or a TOML table (``{key = value}`` → ``key=value``)."""
    if isinstance(raw, str):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(raw, Mapping):
        return [f"{key}={value}" for key, value in raw.items()]
    if isinstance(raw, Sequence):
        return [str(item) for item in raw]
    raise SettingsError(f"{name} must be a list, got {raw!r}")


def parse_str(_name: str, raw: object) -> str:
    """Text as given."""
    return str(raw)


def read_toml(path: str | Path) -> dict[str, Any]:
    """The file layer: a TOML document whose keys are setting names."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None


#: One layer: where its values come from (for error messages) and the values by setting name.
Layer = tuple[str, Mapping[str, Any]]


def build(cls: type[T], layers: Sequence[Layer], parsers: Mapping[str, Parser]) -> T:
    """An instance of the frozen dataclass ``cls`` from ``layers``, lowest precedence first.

    Each field takes the value of the last layer that sets it (``None`` sets nothing), parsed
    by its parser; a field no layer sets keeps its default. A key that is no field is an error
    naming the layer, so a misspelt setting never passes silently. ``-`` in keys reads as
    ``_`` (flags).
    """
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    chosen: dict[str, tuple[str, Any]] = {}
    for source, values in layers:
        for key, raw in values.items():
            name = key.replace("-", "_")
            if name not in known:
                raise SettingsError(f"{source}: unknown setting {key!r}")
            if raw is not None:
                chosen[name] = (source, raw)
    kwargs = {
        name: parsers.get(name, parse_str)(f"{source}: {name}", raw)
        for name, (source, raw) in chosen.items()
    }
    return cls(**kwargs)
