"""Event time: the watermark, the grace period that makes a minute final, corrections, and closed days."""

import orjson
import pytest

from stream.core.checkpoint import Checkpoint
from stream.core.eventtime import day_is_closed, minute_is_final
from stream.core.order import InvalidOrder
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from tests.support.core import day_totals, dead, late
from tests.support.orders import NOON, order_event

NOW = NOON + 86_400_000
MIN = 60_000
RULES = Rules(grace_ms=5_000, allowed_lateness_ms=3_600_000, seconds_horizon_ms=15 * MIN)


@pytest.mark.parametrize(
    ("watermark", "final"),
    [
        (NOON + MIN, False),  # the minute has just ended
        (NOON + MIN + 4_999, False),  # still within the grace period
        (NOON + MIN + 5_000, True),  # grace over: final
    ],
)
def test_a_minute_is_final_once_the_watermark_passes_its_end_plus_grace(watermark: int, final: bool) -> None:
    assert minute_is_final(NOON, watermark, grace_ms=5_000) is final


MIDNIGHT = NOON + 12 * 3_600_000  # the end of Black Friday


@pytest.mark.parametrize(
    ("watermark", "closed"),
    [
        (MIDNIGHT + 3_599_999, False),  # an hour of lateness allowed, less a millisecond
        (MIDNIGHT + 3_600_000, True),
    ],
)
def test_a_day_closes_an_allowed_lateness_after_its_end(watermark: int, closed: bool) -> None:
    assert day_is_closed(NOON, watermark, allowed_lateness_ms=3_600_000) is closed


def feed(state: PartitionState, *events: dict) -> list:
    start = state.end or 0
    return [state.apply(start + i, orjson.dumps(e), NOW) for i, e in enumerate(events)]


def day_entry(record: Checkpoint | None, day: str = "2026-11-27") -> dict:
    assert record is not None
    return record.days[day]


def test_a_late_event_corrects_its_final_minute_and_is_counted_as_a_correction() -> None:
    state = PartitionState(0, RULES)
    feed(state, order_event(occurred_at=NOON + 10_000, total_minor=100),
         order_event(occurred_at=NOON + 3 * MIN, total_minor=200))  # watermark now 2 min past the first
    state.checkpoint(NOW)
    feed(state, order_event(occurred_at=NOON + 20_000, total_minor=50))
    entry = day_entry(state.checkpoint(NOW))
    assert entry["m"] == {str(NOON): [2, 150, 0]}  # published again, corrected
    assert entry["late"] == 1
    assert entry["t"] == [3, 350, 0]


def test_an_event_within_grace_is_not_a_correction() -> None:
    state = PartitionState(0, RULES)
    feed(state, order_event(occurred_at=NOON + MIN + 1_000), order_event(occurred_at=NOON + 30_000))
    assert late(state) == 0


def test_an_event_for_a_closed_day_is_dead_lettered_as_too_late() -> None:
    state = PartitionState(0, RULES)
    results = feed(state, order_event(occurred_at=MIDNIGHT + 3_600_000, total_minor=100),  # next day
                   order_event(occurred_at=MIDNIGHT - 1, total_minor=999))  # Friday, but Friday is closed
    assert isinstance(results[1], InvalidOrder) and results[1].reason == "too_late"
    assert dead(state) == {"too_late": 1}
    assert day_totals(state)[1] == 100


def test_an_event_late_but_within_the_allowed_lateness_still_counts_in_its_day() -> None:
    state = PartitionState(0, RULES)
    results = feed(state, order_event(occurred_at=MIDNIGHT + 3_599_999, total_minor=100),
                   order_event(occurred_at=MIDNIGHT - 1, total_minor=999))
    assert not isinstance(results[1], InvalidOrder)
    assert day_entry(state.checkpoint(NOW))["t"] == [1, 999, 0]


def test_per_second_figures_keep_only_the_recent_horizon() -> None:
    state = PartitionState(0, RULES)
    feed(state, order_event(occurred_at=NOON + 500), order_event(occurred_at=NOON + 20 * MIN + 1_500),
         order_event(occurred_at=NOON + 4 * MIN))  # late, behind the 15-minute horizon: minute only
    entry = day_entry(state.checkpoint(NOW))
    assert sorted(map(int, entry["s"])) == [NOON + 20 * MIN + 1_000]
    assert str(NOON + 4 * MIN) in entry["m"]
    assert NOON not in state.days["2026-11-27"].seconds  # forgotten once behind the horizon


def test_a_closed_day_leaves_the_workers_memory() -> None:
    state = PartitionState(0, RULES)
    feed(state, order_event(occurred_at=NOON))
    state.checkpoint(NOW)
    feed(state, order_event(occurred_at=MIDNIGHT + 2 * 3_600_000))
    record = state.checkpoint(NOW)
    assert record is not None and record.closed == ["2026-11-27"]
    assert list(state.days) == ["2026-11-28"]


@pytest.mark.parametrize(("ahead_ms", "reason"), [(299_000, None), (301_000, "future_time"),
                                                  (9 * 3_600_000, "future_time")])
def test_an_event_ahead_of_the_clock_by_more_than_the_skew_is_dead_lettered(ahead_ms: int,
                                                                            reason: str | None) -> None:
    state = PartitionState(0, RULES)
    (result,) = feed(state, order_event(occurred_at=NOW + ahead_ms))
    assert (result.reason if isinstance(result, InvalidOrder) else None) == reason


def test_one_fast_shop_clock_cannot_close_the_partitions_day() -> None:
    # A shop on local time sent as UTC, nine hours ahead: refused, so the day stays open for everyone else.
    state = PartitionState(0, RULES)
    now = NOON
    feed_at = lambda offset, event: state.apply(offset, orjson.dumps(event), now)  # noqa: E731
    assert feed_at(0, order_event(occurred_at=NOON - 1_000)) is True
    assert isinstance(feed_at(1, order_event(occurred_at=NOON + 9 * 3_600_000)), InvalidOrder)
    assert state.watermark == NOON - 1_000
    assert all(feed_at(2 + i, order_event(occurred_at=NOON + i)) is True for i in range(50))
    assert dead(state) == {"future_time": 1}
