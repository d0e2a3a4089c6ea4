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
