"""Event time: the watermark, the grace period that makes a minute final, corrections, and closed days."""

import orjson
import pytest

from stream.core.checkpoint import PartitionLedger
from stream.core.eventtime import day_is_closed, minute_is_final
from stream.core.order import InvalidOrder
from stream.core.partition import PartitionState
from stream.core.rules import Rules
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
    start = state.ledger.end or 0
    return [state.apply(start + i, orjson.dumps(e), NOW) for i, e in enumerate(events)]


def test_a_late_event_corrects_its_final_minute_and_is_counted_as_a_correction() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    feed(state, order_event(occurred_at=NOON + 10_000, total_minor=100),
         order_event(occurred_at=NOON + 3 * MIN, total_minor=200))  # watermark now 2 min past the first
    state.checkpoint(NOW)
    feed(state, order_event(occurred_at=NOON + 20_000, total_minor=50))
    record = state.checkpoint(NOW)
    assert record is not None
    assert record.minutes[NOON].to_list() == [2, 150, 0]  # published again, corrected
    assert record.late == 1
    assert record.days["2026-11-27"]["totals"] == [3, 350, 0]


def test_an_event_within_grace_is_not_a_correction() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    feed(state, order_event(occurred_at=NOON + MIN + 1_000), order_event(occurred_at=NOON + 30_000))
    assert state.ledger.late == 0


def test_an_event_for_a_closed_day_is_dead_lettered_as_too_late() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    results = feed(state, order_event(occurred_at=MIDNIGHT + 3_600_000, total_minor=100),  # next day
                   order_event(occurred_at=MIDNIGHT - 1, total_minor=999))  # Friday, but Friday is closed
    assert isinstance(results[1], InvalidOrder) and results[1].reason == "too_late"
    assert state.ledger.rejected == {"too_late": 1}
    assert sum(t.gross_cents for t in state.ledger.minutes.values()) == 100


def test_an_event_late_but_within_the_allowed_lateness_still_counts_in_its_day() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    results = feed(state, order_event(occurred_at=MIDNIGHT + 3_599_999, total_minor=100),
                   order_event(occurred_at=MIDNIGHT - 1, total_minor=999))
    assert not isinstance(results[1], InvalidOrder)
    record = state.checkpoint(NOW)
    assert record is not None and record.days["2026-11-27"]["totals"] == [1, 999, 0]


def test_per_second_figures_keep_only_the_recent_horizon() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    feed(state, order_event(occurred_at=NOON + 500), order_event(occurred_at=NOON + 20 * MIN + 1_500),
         order_event(occurred_at=NOON + 4 * MIN))  # late, behind the 15-minute horizon: minute only
    record = state.checkpoint(NOW)
    assert record is not None
    assert sorted(record.seconds) == [NOON + 20 * MIN + 1_000]
    assert NOON + 4 * MIN in record.minutes
    assert NOON not in state.ledger.seconds  # forgotten once behind the horizon


def test_a_closed_day_leaves_the_workers_memory() -> None:
    state = PartitionState(PartitionLedger(0), RULES)
    feed(state, order_event(occurred_at=NOON))
    state.checkpoint(NOW)
    feed(state, order_event(occurred_at=MIDNIGHT + 2 * 3_600_000))
    state.checkpoint(NOW)
    assert list(state.ledger.days) == ["2026-11-28"]
    assert all(m >= MIDNIGHT for m in state.ledger.minutes)
