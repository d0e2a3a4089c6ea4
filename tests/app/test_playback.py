"""Playing a replay session back for one viewer, without Kafka: the clock's play, pause, seek and speed,
and a view that shows exactly the orders up to the clock, all of the day's at its end."""

from __future__ import annotations

import pytest

from app.playback import Player, Tape
from app.replay_socket import control
from stream.core.checkpoint import merged
from stream.core.clock import Clock
from stream.core.dayreplay import DayReplay, Span
from stream.core.eventtime import MINUTE_MS
from stream.core.salesview import SalesView
from tests.stream.core.test_dayreplay import DAY, END, HOUR, NOW, RULES, START, log, sale

# ---- the clock ----


def test_a_clock_moves_speed_times_faster_than_the_wall_and_stops_at_the_end_of_the_day() -> None:
    clock = Clock(START, END, speed=600, since_s=100.0)
    assert clock.now(100.0) == START
    assert clock.now(101.0) == START + 600_000  # one wall second is ten minutes of the day
    assert clock.now(100.0 + 24 * 3600 / 600 + 5) == END


def test_a_paused_clock_stands_still_and_resumes_from_where_it_stood() -> None:
    clock = Clock(START, END, speed=60, since_s=0.0)
    clock.pause(2.0)
    assert clock.now(50.0) == START + 120_000
    clock.play(50.0)
    assert clock.now(51.0) == START + 180_000


def test_seeking_lands_inside_the_day_and_keeps_playing_from_there() -> None:
    clock = Clock(START, END, speed=10, since_s=0.0)
    clock.seek(START + 12 * HOUR, 5.0)
    assert clock.now(6.0) == START + 12 * HOUR + 10_000
    clock.seek(START - HOUR, 7.0)
    assert clock.now(7.0) == START
    clock.seek(END + HOUR, 8.0)
    assert clock.now(8.0) == END


def test_a_new_speed_applies_from_the_moment_it_is_set() -> None:
    clock = Clock(START, END, speed=1, since_s=0.0)
    clock.set_speed(600, 10.0)
    assert clock.now(11.0) == START + 10_000 + 600_000
    clock.set_speed(None, 11.0)  # max: straight to the end
    assert clock.now(11.0) == END


def test_play_after_the_end_starts_the_day_over() -> None:
    clock = Clock(START, END, speed=None, since_s=0.0)
    clock.pause(1.0)
    clock.set_speed(600, 1.0)
    clock.play(2.0)
    assert clock.now(2.0) == START


# ---- the view at a point of the clock ----

SALES = [sale(START + minute * MINUTE_MS + 30_000, 100 + minute) for minute in range(10)]


def tape_of(*entries: tuple[int, object], partitions: tuple[int, ...] = (0,)) -> Tape:
    """A session's tape as `python -m stream replay --publish` writes it: cut at each new minute."""
    records = log(0, *entries)
    reader = DayReplay(DAY, RULES, [Span(0, 0, len(records) + 1)], wall_ms=lambda: NOW, cut_minutes=True)
    for record in records:
        reader.feed(record)
    tape = Tape(list(partitions))
    for checkpoint in reader.cut():
        tape.add(checkpoint.partition, checkpoint.encode())
    return tape


def player(tape: Tape, speed: float | None = 60) -> Player:
    return Player(tape, DAY.name, START, END, speed, 0.0, RULES)


def orders_shown(p: Player) -> tuple[int, int]:
    totals = p.view.snapshot(DAY.name)["totals"]
    return totals["orders"], totals["gross_cents"]


def before(at_ms: int) -> tuple[int, int]:
    """What happened before `at_ms`, counted from the sales themselves."""
    cents = [event["total_minor"] for ts, event in SALES if ts < at_ms]
    return len(cents), sum(cents)


def test_the_view_shows_the_orders_the_clock_has_passed_and_no_others() -> None:
    tape = tape_of(*SALES)
    tape.complete = True
    p = player(tape)
    p.clock.seek(START + 5 * MINUTE_MS, 0.0)
    assert p.advance(0.0) is False
    assert orders_shown(p) == before(START + 5 * MINUTE_MS) == (5, 510)
    p.advance(60.0)  # a minute of wall time at x60: an hour of the day
    assert orders_shown(p) == before(START + HOUR)


def test_seeking_back_rebuilds_the_view_and_asks_for_a_snapshot() -> None:
    tape = tape_of(*SALES)
    tape.complete = True
    p = player(tape)
    p.clock.seek(START + 8 * MINUTE_MS, 0.0)
    p.advance(0.0)
    p.clock.seek(START + 3 * MINUTE_MS, 0.0)
    assert p.advance(0.0) is True
    assert orders_shown(p) == before(START + 3 * MINUTE_MS)


def test_at_the_end_of_the_day_every_checkpoint_counts_late_events_included() -> None:
    # The day's last event comes in after midnight, stamped before it: the day's figures include it.
    late = sale(END - MINUTE_MS, 7)
    tape = tape_of(*SALES, sale(END + 5 * MINUTE_MS, 1), late)
    tape.complete = True
    p = player(tape, speed=None)
    p.advance(0.0)
    assert orders_shown(p) == (len(SALES) + 1, before(END)[1] + 7)


def test_the_clock_never_runs_ahead_of_what_is_loaded() -> None:
    tape = tape_of(*SALES[:4])  # the session is still being read: minutes 0-3 so far
    p = player(tape, speed=None)
    p.advance(0.0)
    assert p.shown_ms < START + 4 * MINUTE_MS
    assert orders_shown(p)[0] <= 4
    tape.complete = True
    p.advance(1.0)
    assert p.shown_ms == END and orders_shown(p) == (4, before(START + 4 * MINUTE_MS)[1])


def test_a_partition_with_nothing_loaded_holds_the_clock_at_the_start() -> None:
    tape = tape_of(*SALES, partitions=(0, 1))
    assert tape.loaded_until(START) == START


@pytest.mark.parametrize("bad", [b"{}", b"not json"])
def test_a_tape_refuses_records_that_are_not_checkpoints(bad: bytes) -> None:
    with pytest.raises((KeyError, ValueError)):
        Tape([0]).add(0, bad)


# ---- what a viewer may send ----


@pytest.mark.parametrize(("frame", "command"), [
    ('{"type": "pause"}', {"type": "pause"}),
    ('{"type": "play", "extra": 1}', {"type": "play"}),
    ('{"type": "seek", "to_ms": 1764331200000}', {"type": "seek", "to_ms": 1764331200000}),
    ('{"type": "speed", "speed": "60"}', {"type": "speed", "speed": 60.0}),
    ('{"type": "speed", "speed": "max"}', {"type": "speed", "speed": None}),
    ('{"type": "resync"}', {"type": "resync"}),
])
def test_a_viewer_can_play_pause_seek_and_change_speed(frame: str, command: dict[str, object]) -> None:
    assert control(frame) == command


@pytest.mark.parametrize("frame", [
    "pause", "[]", '{"type": "seek"}', '{"type": "seek", "to_ms": "noon"}', '{"type": "seek", "to_ms": true}',
    '{"type": "speed", "speed": "0"}', '{"type": "speed", "speed": "fast"}', '{"type": "rewind"}',
])
def test_anything_else_a_viewer_sends_is_ignored(frame: str) -> None:
    assert control(frame) is None


def test_many_checkpoints_merged_fold_exactly_as_one_after_another() -> None:
    # Minutes corrected by late events, refunds, a second merchant: every kind of change a chain carries.
    entries = [*SALES, sale(START + 2 * MINUTE_MS + 1, 55), sale(START + 11 * MINUTE_MS, 3)]
    refund = (START + 12 * MINUTE_MS, {**entries[0][1], "type": "order_refunded", "event_id": "refund-1",
                                       "occurred_at": START + 12 * MINUTE_MS})
    other = sale(START + 12 * MINUTE_MS + 5, 4_000)
    other[1].update(merchant_id="m00002", merchant_name="Other", event_id="other-1", order_id="other-1")
    tape = tape_of(*entries, refund, other)
    raws = [raw for _, raw in tape.records[0]]
    assert len(raws) > 5

    one_by_one, at_once = SalesView(), SalesView()
    for raw in raws:
        one_by_one.apply(raw)
    at_once.apply(merged(raws, RULES.seconds_horizon_ms))

    def shown(view: SalesView) -> dict[str, object]:
        return {k: v for k, v in view.snapshot(DAY.name).items() if k != "ingest_rate"}

    assert shown(at_once) == shown(one_by_one)
    assert shown(one_by_one)["totals"]["refunds_cents"] > 0  # type: ignore[index]
