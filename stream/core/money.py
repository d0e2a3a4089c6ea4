"""Money: every amount is an integer of minor units; conversion to USD cents uses one fixed rate table.

Rates are USD per one *major* unit of the currency, as exact decimal strings. A converted amount is
`total_minor / 10**exponent * rate * 100` cents, rounded once per event, half to even (banker's rounding),
so the sum of many events has no rounding bias.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class Currency(NamedTuple):
    exponent: int  # digits after the decimal point in ISO 4217 (JPY 0, USD 2, KWD 3)
    usd_rate: str  # USD per one major unit


# Fixed demo rates (2026-11-02 reference, rounded); one table so every process converts identically.
CURRENCIES: dict[str, Currency] = {
    "USD": Currency(2, "1"),
    "EUR": Currency(2, "1.08"),
    "GBP": Currency(2, "1.27"),
    "CAD": Currency(2, "0.73"),
    "AUD": Currency(2, "0.66"),
    "JPY": Currency(0, "0.0067"),
    "KRW": Currency(0, "0.00073"),
    "CHF": Currency(2, "1.13"),
    "SEK": Currency(2, "0.095"),
    "PLN": Currency(2, "0.25"),
    "BRL": Currency(2, "0.18"),
    "MXN": Currency(2, "0.055"),
    "INR": Currency(2, "0.012"),
    "KWD": Currency(3, "3.25"),
}


def _ratio(currency: Currency) -> tuple[int, int]:
    # cents = minor * num / den, exactly, with integers only
    sign, digits, exp = Decimal(currency.usd_rate).as_tuple()
    assert isinstance(exp, int) and sign == 0
    num = int("".join(map(str, digits))) * 100
    den = 10**currency.exponent
    if exp >= 0:
        num *= 10**exp
    else:
        den *= 10**-exp
    return num, den


_RATIOS: dict[str, tuple[int, int]] = {code: _ratio(c) for code, c in CURRENCIES.items()}


def to_usd_cents(amount_minor: int, currency: str) -> int:
    """Convert minor units of `currency` to US cents, rounding half to even. Raises KeyError if unknown."""
    num, den = _RATIOS[currency]
    quotient, remainder = divmod(amount_minor * num, den)
    twice = 2 * remainder
    if twice > den or (twice == den and quotient % 2 == 1):
        quotient += 1
    return quotient


class Converted(dict[int, int]):
    """One currency's conversions, remembered: prices repeat, and a hit is one dict lookup (~40 ns against
    ~250 ns of arithmetic). Bounded: it starts afresh once it holds `limit` amounts."""

    def __init__(self, currency: str, limit: int = 20_000) -> None:
        super().__init__()
        self.currency = currency
        self.limit = limit

    def __missing__(self, amount_minor: int) -> int:
        if len(self) >= self.limit:
            self.clear()
        cents = self[amount_minor] = to_usd_cents(amount_minor, self.currency)
        return cents


# currency -> {amount in minor units: US cents}, for the known currencies only
USD_CENTS: dict[str, dict[int, int]] = {code: Converted(code) for code in _RATIOS}


def format_usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
