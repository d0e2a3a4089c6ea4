"""Replaying a day without Kafka: which records count for it, where it ends in a partition, checkpoints,
pacing and how partitions are shared out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream.core import eventtime
from stream.core.clock import FOREVER_MS, Clock, parse_speed
from stream.core.dayreplay import DayReplay, Span
from stream.core.eventtime import DAY_MS, MINUTE_MS
from stream.core.record import Record
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from stream.replay.run import shares
from tests.support.orders import order_event

HOUR = 3_600_000
DAY = eventtime.day("2025-11-28", now_ms=1_900_000_000_000, allowed_lateness_ms=HOUR)
START, END = DAY.start_ms, DAY.end_ms
RULES = Rules(allowed_lateness_ms=HOUR)
NOW = 1_900_000_000_000  # the wall clock of these replays, long after the day


def wall_ms() -> int:
    return NOW


def log(partition: int, *entries: tuple[int, Any]) -> list[Record]:
    """A partition's records in log order: (Kafka timestamp, event dict or raw bytes)."""
    return [Record(offset, orjson.dumps(e) if isinstance(e, dict) else e, ts, partition)
            for offset, (ts, e) in enumerate(entries)]


def sale(at: int, cents: int) -> tuple[int, dict[str, Any]]:
    return at, order_event(occurred_at=at, total_minor=cents)


def replay(*logs: list[Record], cut_minutes: bool = False) -> tuple[DayReplay, list[bool]]:
    # Each log goes on past what is fed here: a partition ends only when its day closes.
    spans = [Span(records[0].partition(), 0, len(records) + 1) for records in logs]
    reader = DayReplay(DAY, RULES, spans, wall_ms=wall_ms, cut_minutes=cut_minutes)
    return reader, [reader.feed(record) for records in logs for record in records]


def day_totals(reader: DayReplay) -> dict[str, int]:
    view = SalesView()
    for checkpoint in reader.cut():
        view.apply(checkpoint.encode())
    totals = view.snapshot(DAY.name)["totals"]
    return {k: totals[k] for k in ("orders", "gross_cents", "refunds_cents")}


def test_a_late_event_after_later_stamped_ones_still_counts_for_its_day() -> None:
    reader, fed = replay(log(0, sale(START + 10 * MINUTE_MS, 100), sale(END + 10 * MINUTE_MS, 999),
                             sale(END - MINUTE_MS, 50)))
    assert fed == [True, True, True]  # the next day's first event does not end the day
    assert day_totals(reader) == {"orders": 2, "gross_cents": 150, "refunds_cents": 0}
    assert reader.day_records == 2


def test_the_day_ends_in_a_partition_once_its_watermark_passes_the_allowed_lateness() -> None:
    reader, fed = replay(log(0, sale(START + HOUR, 100), sale(END + HOUR, 999),  # closes the day
                             sale(END - MINUTE_MS, 50)))  # too late: live dead-letters it; never read here
    assert fed == [True, False, False]
    assert not reader.open
    assert day_totals(reader) == {"orders": 1, "gross_cents": 100, "refunds_cents": 0}


def test_other_days_pass_through_the_core_but_only_the_days_own_records_are_reported() -> None:
    reader, _ = replay(
        log(0, sale(START + MINUTE_MS, 100), sale(START - MINUTE_MS, 7),  # a late event of the day before
            (START - MINUTE_MS, b"{not json"), (START + 2 * MINUTE_MS, b"[1]")),
        log(1, sale(START + 5 * MINUTE_MS, 20)),
    )
    assert day_totals(reader) == {"orders": 2, "gross_cents": 120, "refunds_cents": 0}
    assert reader.dead_letters == {"not_object": 1}  # the day's own malformed record, not the day before's
    assert reader.read == 5 and reader.day_records == 3


def test_a_duplicate_delivery_counts_once() -> None:
    event = order_event(occurred_at=START + HOUR, total_minor=300)
    reader, _ = replay(log(0, (START + HOUR, event), sale(START + HOUR + 1, 5), (START + HOUR, event)))
    assert day_totals(reader) == {"orders": 2, "gross_cents": 305, "refunds_cents": 0}


def test_future_time_is_judged_by_the_records_own_timestamp_however_late_the_replay() -> None:
    # Stamped at noon of the day, claiming two days later: a day ahead of its stamp, so refused — and so it
    # cannot push the watermark past the day's close, as it would if judged by today's clock.
    ahead = order_event(occurred_at=START + 2 * DAY_MS + 12 * HOUR)
    reader, fed = replay(log(0, (START + 12 * HOUR, ahead), sale(START + 13 * HOUR, 40)))
    assert fed == [True, True]
    assert reader.dead_letters == {"future_time": 1}
    assert day_totals(reader)["gross_cents"] == 40


def test_a_partition_ends_at_the_end_of_its_span() -> None:
    records = log(0, sale(START + 1, 1), sale(START + 2, 2), sale(START + 3, 3))
    reader = DayReplay(DAY, RULES, [Span(0, 0, 2)], wall_ms=wall_ms)
    assert [reader.feed(r) for r in records] == [True, False, False]
    assert day_totals(reader)["gross_cents"] == 3


def test_with_minute_cuts_a_checkpoint_holds_the_state_as_a_new_minute_starts() -> None:
    reader, _ = replay(log(0, sale(START + 10_000, 1), sale(START + 50_000, 2), sale(START + 65_000, 4)),
                       cut_minutes=True)
    (first,) = reader.take()
    assert (first.start, first.end) == (0, 2)
    assert first.days[DAY.name]["t"] == [2, 3, 0]
    (rest,) = reader.cut()
    assert (rest.start, rest.end) == (2, 3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2025-11-31", "not a day"),
        ("28/11/2025", "not a day"),
        ("2031-01-01", "in the future"),
    ],
)
def test_a_malformed_or_future_day_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        eventtime.day(text, now_ms=1_900_000_000_000, allowed_lateness_ms=HOUR)


def test_today_can_be_replayed_and_a_day_closes_an_allowed_lateness_after_its_end() -> None:
    today = eventtime.day("2025-11-28", now_ms=START + 1, allowed_lateness_ms=HOUR)
    assert today.close_ms == END + HOUR
    assert today.holds(START) and not today.holds(END)


@pytest.mark.parametrize(
    ("text", "speed"),
    [("1", 1.0), ("600", 600.0), ("2.5", 2.5), ("max", None), ("MAX", None)],
)
def test_a_speed_is_a_factor_or_max(text: str, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-10", "fast", "inf", "nan"])
def test_a_speed_that_is_not_above_zero_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_speed(text)


def test_at_x60_a_wall_second_shows_a_minute_of_event_time() -> None:
    pace = Clock(START, FOREVER_MS, 60, since_s=100.0)
    assert pace.event_at(101.0) == START + MINUTE_MS
    assert pace.wall_at(START + 30 * MINUTE_MS) == 130.0


def test_partitions_are_shared_out_evenly_each_to_one_reader() -> None:
    spans = [Span(p, 0, size) for p, size in enumerate([100, 90, 50, 40, 10, 10])]
    dealt = shares(spans, 2)
    assert sorted(s.partition for share in dealt for s in share) == [0, 1, 2, 3, 4, 5]
    assert sorted(sum(s.size for s in share) for share in dealt) == [150, 150]
    assert len(shares(spans[:1], 8)) == 1  # never more readers than partitions


def test_a_partition_is_closed_only_when_its_watermark_passes_the_days_close() -> None:
    reader, _ = replay(log(0, sale(START + MINUTE_MS, 100), sale(DAY.close_ms + MINUTE_MS, 5)),
                       log(1, sale(START + MINUTE_MS, 100)))
    reader.finish(1)  # partition 1 just ends: a late event of the day could still come there
    assert reader.stats()["closed"] == [0]
    assert not reader.open
