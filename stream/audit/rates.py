"""The rate table as the audit's SQL reads it: each currency's conversion as an exact integer ratio.

The table itself is the one thing the audit shares with the live core, as data only; it is imported
here and nowhere else in the audit, so when it moves only this import changes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from stream.core.money import CURRENCIES


class Ratio(NamedTuple):
    """cents = amount_minor * num / den, exactly (before rounding)."""

    currency: str
    num: int
    den: int


def ratio(exponent: int, usd_rate: str) -> tuple[int, int]:
    """total_minor / 10^exponent * rate * 100 as num/den, with rate an exact decimal string."""
    rate = Decimal(usd_rate)
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"not a usable rate: {usd_rate!r}")
    scale = max(0, -int(rate.as_tuple().exponent))  # decimal digits of the rate
    num = int(rate.scaleb(scale)) * 100
    return num, 10 ** (exponent + scale)


def ratios() -> list[Ratio]:
    """Every currency of the rate table, read afresh (it is small)."""
    return [Ratio(code, *ratio(c.exponent, c.usd_rate)) for code, c in sorted(CURRENCIES.items())]
