"""The alert evaluator (app.alerts), pure: which subjects are silent or far below their expected rate,
dead-letter jumps and old data, for any counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app import alerts

RULES = alerts.Thresholds(window_minutes=5, min_expected=20, below_fraction=0.2, dead_letters_jump=50,
                          data_age_s=30)
_counts = st.dictionaries(st.sampled_from(["m1", "m2", "m3", "m4"]), st.integers(0, 200), max_size=4)


@given(_counts, _counts, st.floats(0, 5))
def test_a_subject_alerts_only_where_enough_was_expected_and_far_too_little_came(
        actual: dict[str, int], expected: dict[str, int], scale: float) -> None:
    raised = {a.subject: a.kind for a in alerts.rates("merchant", actual, expected, scale, RULES)}
    for subject, before in expected.items():
        wanted, got = before * scale, actual.get(subject, 0)
        if wanted < 20:
            assert subject not in raised
        elif got == 0:
            assert raised[subject] == "silent"
        elif got < 0.2 * wanted:
            assert raised[subject] == "below"
        else:
            assert subject not in raised
    assert set(raised) <= set(expected)  # nothing expected, nothing to miss


@given(_counts, _counts, st.floats(0, 5), st.sampled_from(["m1", "m2", "m3", "m4"]), st.integers(1, 100))
def test_more_orders_never_raise_an_alert(actual: dict[str, int], expected: dict[str, int], scale: float,
                                          subject: str, more: int) -> None:
    before = {a.subject for a in alerts.rates("channel", actual, expected, scale, RULES)}
    grown = {**actual, subject: actual.get(subject, 0) + more}
    assert {a.subject for a in alerts.rates("channel", grown, expected, scale, RULES)} <= before


def test_the_issues_example_and_the_level() -> None:
    # No orders for 5 minutes where 25 were expected (the compare day's 50, today at half its level).
    scale = alerts.level(today_so_far=1_000, compare_so_far=2_000)
    assert scale == 0.5
    found = alerts.rates("merchant", {}, {"m1": 50, "m2": 30}, scale, RULES)
    assert [(a.kind, a.subject) for a in found] == [("silent", "m1")]  # m2: 15 expected, under 20
    assert alerts.level(5, 0) == 1.0


@given(st.integers(0, 10_000))
def test_dead_letters_alert_from_the_jump(jump: int) -> None:
    assert bool(alerts.dead_letters(jump, RULES)) is (jump >= 50)


@given(st.none() | st.floats(0, 1e6))
def test_data_age_alerts_past_its_bound(age: float | None) -> None:
    assert bool(alerts.data_age(age, RULES)) is (age is not None and age > 30)


_channels = st.sampled_from(["online", "pos", "mobile", "social"])
_totals = st.dictionaries(_channels, st.integers(0, 10_000), max_size=4)


@given(_totals, _totals, st.dictionaries(_channels, st.integers(0, 500), max_size=4),
       st.integers(0, 2_000), st.floats(0, 5))
def test_a_channel_with_no_orders_in_the_window_is_raised_once_where_its_share_was_enough(
        compare_day: dict[str, int], first: dict[str, int], grew: dict[str, int], window: int,
        scale: float) -> None:
    last = {c: first.get(c, 0) + grew.get(c, 0) for c in {*first, *grew}}
    found = alerts.mix("channel", first, last, window, compare_day, scale, RULES)
    assert len({a.subject for a in found}) == len(found)  # once per subject
    assert all(a.scope == "channel" for a in found)
    whole = sum(compare_day.values())
    for channel, n in compare_day.items():
        wanted = window * n / whole * scale if whole else 0
        got = grew.get(channel, 0)
        if wanted >= 20 and got == 0:
            assert [a.kind for a in found if a.subject == channel] == ["silent"]
        elif wanted < 20 or got >= 0.2 * wanted:
            assert channel not in {a.subject for a in found}


@given(st.dictionaries(st.sampled_from(["US", "DE", "JP"]), st.integers(1, 10_000), max_size=3),
       st.dictionaries(st.sampled_from(["ZZ", "XX"]), st.integers(0, 10_000), max_size=2),
       st.dictionaries(st.sampled_from(["ZZ", "XX"]), st.integers(0, 10_000), max_size=2),
       st.integers(0, 100_000), st.floats(0, 100))
def test_a_country_unknown_to_the_compare_day_never_raises(
        compare_day: dict[str, int], first: dict[str, int], last: dict[str, int], window: int,
        scale: float) -> None:
    # Today's totals hold only countries the compare day never saw, and may even shrink (hostile input).
    found = alerts.mix("country", first, last, window, compare_day, scale, RULES)
    assert {a.subject for a in found} <= set(compare_day)


def test_a_channels_expected_orders_are_its_share_of_the_window_at_todays_level() -> None:
    # The compare day: 900 online and 100 mobile orders; 300 orders in the window's minutes.
    day = {"online": 900, "mobile": 100}
    silent = {"online": 5, "mobile": 7}  # both running totals stood still
    at_half = alerts.mix("channel", silent, silent, 300, day, 0.5, RULES)
    assert [a.subject for a in at_half] == ["online"]  # 135 expected; mobile 15, under 20
    at_full = alerts.mix("channel", silent, silent, 300, day, 1.0, RULES)
    assert sorted(a.subject for a in at_full) == ["mobile", "online"]  # mobile: 30 expected
    some = alerts.mix("channel", silent, {"online": 5 + 26, "mobile": 7 + 6}, 300, day, 1.0, RULES)
    assert [(a.kind, a.subject) for a in some] == [("below", "online")]  # 26 < 54; mobile's 6 = 20% of 30
    assert alerts.mix("channel", {}, {"online": 10}, 300, {}, 1.0, RULES) == []  # no compare orders: no mix
