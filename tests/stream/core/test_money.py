from decimal import ROUND_HALF_EVEN, Decimal
from random import Random

import pytest

from stream.core.money import CURRENCIES, USD_CENTS, Converted, format_usd, to_usd_cents


@pytest.mark.parametrize(
    ("amount_minor", "currency", "cents"),
    [
        (1234, "USD", 1234),  # USD is the identity
        (100, "EUR", 108),  # €1.00 at 1.08
        (1000, "JPY", 670),  # ¥1000: JPY has no minor unit, 1000 * 0.0067 dollars
        (1, "JPY", 1),  # ¥1 = 0.67 cents rounds up
        (75, "JPY", 50),  # 50.25 cents rounds down
        (50, "GBP", 64),  # 63.5 cents: a tie goes to the even 64
        (150, "GBP", 190),  # 190.5 cents: a tie goes to the even 190
        (1000, "KWD", 325),  # 1.000 KWD: three decimals
        (20, "KWD", 6),  # 6.5 cents: tie to even 6
        (60, "KWD", 20),  # 19.5 cents: tie to even 20
        (1_000_000, "KRW", 73_000),  # ₩1,000,000 at 0.00073
    ],
)
def test_conversion_to_usd_cents(amount_minor: int, currency: str, cents: int) -> None:
    assert to_usd_cents(amount_minor, currency) == cents


def test_conversion_matches_decimal_arithmetic_for_random_amounts() -> None:
    rng = Random(7)
    for currency, (exponent, rate) in CURRENCIES.items():
        for _ in range(2000):
            amount = rng.randrange(1, 10**9)
            exact = Decimal(amount) / (10**exponent) * Decimal(rate) * 100
            assert to_usd_cents(amount, currency) == int(exact.quantize(Decimal(1), ROUND_HALF_EVEN)), (
                currency, amount)


def test_unknown_currency_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        to_usd_cents(100, "XXX")


def test_remembered_conversions_equal_the_arithmetic_and_stay_bounded() -> None:
    assert set(USD_CENTS) == set(CURRENCIES)
    rng = Random(3)
    for currency, converted in USD_CENTS.items():
        for _ in range(200):
            amount = rng.choice([rng.randrange(1, 10**9), 1, 5, 50, 150])  # repeats are hits
            assert converted[amount] == to_usd_cents(amount, currency), (currency, amount)
    small = Converted("KWD", limit=3)
    assert [small[a] for a in (1, 2, 3, 4, 1)] == [to_usd_cents(a, "KWD") for a in (1, 2, 3, 4, 1)]
    assert len(small) <= 3
    with pytest.raises(KeyError):
        Converted("XXX")[100]


@pytest.mark.parametrize(("cents", "text"), [(0, "$0.00"), (5, "$0.05"), (123456789, "$1,234,567.89"),
                                             (-250, "-$2.50")])
def test_format_usd(cents: int, text: str) -> None:
    assert format_usd(cents) == text
