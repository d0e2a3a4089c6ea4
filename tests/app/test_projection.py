"""The end-of-day projection as a pure function: exact cents worked out here with Fractions and the real
square root's bounds, monotone in today's net so far, a band around the projection, and nothing
projected without a compare day's share done."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.projection import project

CENTS = st.integers(0, 10**13)


@st.composite
def compare_days(draw: st.DrawFn) -> tuple[int, int]:
    """(done, whole) of a compare day with enough done to project from."""
    whole = draw(st.integers(10_000, 10**13))
    return draw(st.integers(-(-whole // 100), whole)), whole


@given(CENTS, compare_days())
def test_projected_is_so_far_over_the_share_to_the_cent(so_far: int, day: tuple[int, int]) -> None:
    done, whole = day
    found = project(so_far, done, whole)
    assert found is not None
    exact = Fraction(so_far * whole, done)
    assert abs(found.projected_cents - exact) <= Fraction(1, 2)
    if abs(found.projected_cents - exact) == Fraction(1, 2):
        assert found.projected_cents > exact  # halves go up, away from zero
    assert found.share_ppm == int(Fraction(done, whole) * 1_000_000)


@given(CENTS, compare_days())
def test_band_holds_projected_and_is_at_least_the_stated_width(so_far: int, day: tuple[int, int]) -> None:
    done, whole = day
    found = project(so_far, done, whole)
    assert found is not None
    assert so_far <= found.low_cents  # never below what is done already
    assert found.low_cents <= found.projected_cents <= found.high_cents
    # The stated band, from the float square root, with a cent's slack for its rounding.
    s = done / whole
    m = (s * (1 - s)) ** 0.5 / 20
    assert found.low_cents <= so_far / min(1.0, s + m) * (1 + 1e-9) + 1
    assert found.high_cents >= so_far / (s - m) * (1 - 1e-9) - 1


@given(st.integers(0, 10**12), st.integers(0, 10**12), compare_days())
def test_monotone_in_so_far(a: int, b: int, day: tuple[int, int]) -> None:
    lo, hi = sorted((a, b))
    first, second = project(lo, *day), project(hi, *day)
    assert first is not None and second is not None
    assert first.projected_cents <= second.projected_cents
    assert first.low_cents <= second.low_cents
    assert first.high_cents <= second.high_cents


@given(CENTS, st.integers(1, 10**13))
def test_band_narrows_as_the_day_goes_on(so_far: int, whole: int) -> None:
    early, late = project(so_far, -(-whole // 10), whole), project(so_far, whole * 9 // 10, whole)
    if early is None or late is None:
        return  # a day of a few cents
    # relative widths, cross-multiplied: (high - low) / projected shrinks
    assert (late.high_cents - late.low_cents) * max(1, early.projected_cents) <= \
        (early.high_cents - early.low_cents + 2) * max(1, late.projected_cents)


def test_the_whole_compare_day_done_projects_so_far_itself() -> None:
    found = project(123_456, 500_000, 500_000)
    assert found is not None
    assert (found.projected_cents, found.low_cents, found.high_cents) == (123_456, 123_456, 123_456)


def test_half_done_a_worked_example() -> None:
    # s = 1/2: m = √(1/4)/20 = 1/40; band 1000 / (21/40) … 1000 / (19/40) = 1904.76… … 2105.26…
    found = project(1_000, 5_000_000, 10_000_000)
    assert found is not None
    assert (found.projected_cents, found.low_cents, found.high_cents) == (2_000, 1_904, 2_106)


@pytest.mark.parametrize(("done", "whole"), [
    (0, 0),  # no compare day's net at all
    (5, -10),  # a compare day of refunds only
    (0, 1_000_000),  # nothing done by this minute on the compare day
    (9_999, 1_000_000),  # just under 1% done
    (-50, 1_000_000),  # refunds only so far on the compare day
])
def test_nothing_projected(done: int, whole: int) -> None:
    assert project(1_000, done, whole) is None


def test_one_percent_done_projects() -> None:
    found = project(1_000, 10_000, 1_000_000)
    assert found is not None and found.projected_cents == 100_000


def test_compare_day_past_its_whole_counts_as_done() -> None:
    # refunds after this minute left the compare day's net through it above its whole day's
    found = project(7_000, 1_200_000, 1_000_000)
    assert found is not None and found.projected_cents == found.low_cents == found.high_cents == 7_000
