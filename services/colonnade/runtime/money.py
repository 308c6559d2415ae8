"""Money as ``google.type.Money`` has it: a currency, whole units and nanos (10^-9).

Arithmetic is exact on integer nanos, never on floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

NANOS_PER_UNIT = 1_000_000_000
#: A three-letter ISO 4217 code.
CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency, as ``google.type.Money``: units plus nanos (10^-9)."""

    currency_code: str
    units: int = 0
    nanos: int = 0

    @property
    def amount(self) -> Decimal:
        return Decimal(self.units) + Decimal(self.nanos) / NANOS_PER_UNIT

    @property
    def total_nanos(self) -> int:
        """The amount in nanos (units and nanos of one sign, as google.type.Money requires)."""
        return self.units * NANOS_PER_UNIT + self.nanos

    @classmethod
    def from_nanos(cls, currency_code: str, nanos: int) -> Money:
        """The money of ``nanos`` nanos (non-negative) in ``currency_code``."""
        units, rest = divmod(nanos, NANOS_PER_UNIT)
        return cls(currency_code, units, rest)


#: The most fractional digits a decimal amount may have: nanos are 10^-9.
MAX_FRACTION_DIGITS = 9
#: The decimal string grammar: an optional ``-``, digits, optionally ``.`` and 1-9 digits.
_DECIMAL = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")
_INT64_MAX = 2**63 - 1


class AmountError(ValueError):
    """A decimal amount string that does not parse; the message says why, for a person."""


def parse_amount(text: str) -> tuple[int, int]:
    """``"12.50"`` → ``(12, 500000000)``: units and nanos as ``google.type.Money`` has them.

    Both parts carry the amount's sign (``"-0.5"`` → ``(0, -500000000)``). Raises
    :class:`AmountError` for anything else than ``-?digits(.digits)?`` with at most
    :data:`MAX_FRACTION_DIGITS` fractional digits and a whole part that fits in int64.
    """
    if not text:
        raise AmountError("is required")
    match = _DECIMAL.fullmatch(text)  # not match(): "$" would let a trailing "\n" in
    if match is None:
        raise AmountError(
            f"{text[:40]!r} is not a decimal amount such as 12.50 "
            "(digits, optionally '-' before and '.' with 1-9 digits after; no exponent or spaces)"
        )
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if len(fraction) > MAX_FRACTION_DIGITS:
        raise AmountError(
            f"{text[:40]!r} has {len(fraction)} fractional digits; at most "
            f"{MAX_FRACTION_DIGITS} are allowed"
        )
    units = int(whole)
    if units > _INT64_MAX:
        raise AmountError(f"{text[:40]!r} is too large: the whole part must fit in 64 bits")
    nanos = int(fraction.ljust(MAX_FRACTION_DIGITS, "0"))
    return (-units, -nanos) if sign else (units, nanos)


def format_amount(units: int, nanos: int) -> str:
    """``(12, 500000000)`` → ``"12.50"``: 2 to 9 fractional digits, no extra trailing zeros.

    The inverse of :func:`parse_amount` for values ``google.type.Money`` allows (units and
    nanos of one sign, ``|nanos| < 10^9``); raises :class:`ValueError` for any other.
    """
    if abs(nanos) >= NANOS_PER_UNIT or (units > 0 and nanos < 0) or (units < 0 and nanos > 0):
        raise ValueError(f"not a google.type.Money amount: units={units}, nanos={nanos}")
    sign = "-" if units < 0 or nanos < 0 else ""
    fraction = f"{abs(nanos):09d}".rstrip("0").ljust(2, "0")
    return f"{sign}{abs(units)}.{fraction}"
