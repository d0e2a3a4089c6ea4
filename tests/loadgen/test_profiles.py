"""Rate shapes: steady stays flat, ramp climbs, bfcm looks like the Black Friday weekend."""

from __future__ import annotations

import itertools

import pytest

from loadgen.profiles import DAY, HOUR, BlackFriday, Ramp, Steady, day_plan, profile

BF = BlackFriday(seed=1)
MIDNIGHT = BF.black_friday  # Black Friday 00:00 on the profile's clock


def at(day: int, hour: float) -> float:
    """Profile time of an hour of Black Friday (day 0), Saturday (1), ... Cyber Monday (3)."""
    return MIDNIGHT + day * DAY + hour * HOUR


def test_steady_is_flat_and_its_area_is_exact() -> None:
    steady = Steady()
    assert {steady.multiplier(t) for t in (0, 1.5, 86_400)} == {1.0}
    assert steady.area(12.5) == 12.5


def test_ramp_reaches_the_baseline_after_ten_minutes_and_keeps_climbing() -> None:
    ramp = Ramp()
    assert ramp.multiplier(0) == 0
    assert ramp.multiplier(600) == pytest.approx(1.0)
    assert ramp.multiplier(1200) == pytest.approx(2.0)
    assert ramp.area(600) == pytest.approx(300)  # half the baseline on average over the first ten minutes


def test_midnight_spikes_five_to_ten_times_within_a_minute() -> None:
    before = BF.base(MIDNIGHT - 1)
    peak = max(BF.base(MIDNIGHT + s) for s in range(60))
    assert 5 <= peak / before <= 10
    assert BF.base(MIDNIGHT + 2 * HOUR) < peak / 2  # the rush fades


def test_the_day_sleeps_at_dawn_and_peaks_in_the_evening() -> None:
    assert BF.base(at(0, 4)) * 3 < BF.base(at(0, 20))
    assert BF.base(at(1, 4)) * 3 < BF.base(at(1, 20))


def test_black_friday_and_cyber_monday_beat_the_weekend_and_the_tail_fades() -> None:
    def day_average(day: int) -> float:
        return sum(BF.base(at(day, h + 0.5)) for h in range(24)) / 24

    friday, saturday, sunday, monday, tuesday, wednesday = (day_average(d) for d in range(6))
    assert friday > monday > saturday > sunday
    assert monday > tuesday > wednesday == pytest.approx(1.0, rel=0.01)  # back to an ordinary day


def test_flash_sales_put_extra_orders_on_one_merchant_at_a_time() -> None:
    sales = [(t, BF.flash(t)) for t in range(0, 5 * DAY, 60)]
    running = [(t, sale) for t, sale in sales if sale is not None]
    assert len({sale[0] for _, sale in running}) > 20  # many sales, different merchants
    t, (_, share) = running[0]
    assert 0 < share < 1
    assert BF.multiplier(t) == pytest.approx(BF.base(t) / (1 - share))  # its extra orders are its share


def test_flash_sales_depend_on_the_seed() -> None:
    def merchants(shape: BlackFriday) -> list[int]:
        return [sale[0] for t in range(0, DAY, 60) if (sale := shape.flash(t))]

    assert merchants(BlackFriday(seed=1)) == merchants(BlackFriday(seed=1))
    assert merchants(BlackFriday(seed=1)) != merchants(BlackFriday(seed=2))


@pytest.mark.parametrize("t", [30.0, MIDNIGHT + 17, 3 * DAY + 1234.5])
def test_area_is_the_integral_of_the_multiplier(t: float) -> None:
    bf = BlackFriday(seed=1)
    rise = (bf.area(t + 5) - bf.area(t - 5)) / 10
    assert rise == pytest.approx(bf.multiplier(t), rel=0.05)


def test_a_backfilled_day_has_exactly_the_orders_asked_for_shaped_like_black_friday() -> None:
    plan = day_plan(profile("bfcm"), 100_000)
    assert len(plan) == DAY
    assert sum(plan) == 100_000
    first_minutes, dawn = sum(plan[:300]), sum(plan[4 * 3600 : 4 * 3600 + 300])
    assert first_minutes > 5 * dawn  # the midnight rush, then the night


def test_a_sparse_day_still_has_orders_all_day_long() -> None:
    plan = day_plan(profile("bfcm"), 20_000)  # fewer orders than seconds
    assert sum(plan) == 20_000
    seconds = [s for s, count in enumerate(plan) if count]
    assert max(b - a for a, b in itertools.pairwise(seconds)) < 120  # no silent stretch
    assert all(sum(plan[h * 3600 : (h + 1) * 3600]) > 100 for h in range(24))


def test_a_steady_day_is_even() -> None:
    plan = day_plan(profile("steady"), DAY * 3)
    assert set(plan) == {3}


def test_an_unknown_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown profile"):
        profile("lunar")
