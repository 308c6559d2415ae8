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
