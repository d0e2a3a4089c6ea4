"""Idle partitions do not hold the clock: a follow step moves a quiet partition's watermark, its days close
as if records had moved it there, and a recount applies the step again at the same place."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.checkpoint import Checkpoint, link
from stream.core.partition import PartitionState, Range
from stream.core.record import Record
from stream.core.rules import Rules
from stream.worker.idle import followed
from tests.support.core import fresh, snapshot_of
from tests.support.orders import NOON, order_event

DAY = 86_400_000
HOUR = 3_600_000
RULES = Rules()  # a day closes once the watermark is an hour past its end
NOW = NOON + 10 * DAY  # the worker's clock: every event below is in its past
CLOSES = NOON + 12 * HOUR + HOUR  # the watermark that closes NOON's day, 2026-11-27


def order(at: int, event: str | None = None, cents: int = 2500) -> bytes:
    fields: dict[str, Any] = {"occurred_at": at, "total_minor": cents}
    if event is not None:
        fields["event_id"] = event
    return orjson.dumps(order_event(**fields))


def test_following_past_a_days_close_closes_it_with_an_empty_range_that_carries_the_step() -> None:
    state = fresh()
    state.apply(0, order(NOON), NOW)
    assert state.checkpoint(NOW) is not None
    assert state.follow(CLOSES)
    record = state.checkpoint(NOW)
    assert record is not None
    assert (record.start, record.end, record.watermark, record.follow) == (1, 1, CLOSES, CLOSES)
    assert record.closed == ["2026-11-27"]
    assert record.days["2026-11-27"]["t"] == [1, 2500, 0]  # the closing day's final figures
    assert "2026-11-27" not in state.days


def test_an_order_after_the_step_for_a_day_it_closed_is_too_late_there() -> None:
    state = fresh()
    state.apply(0, order(NOON), NOW)
    state.checkpoint(NOW)
    state.follow(CLOSES)
    state.checkpoint(NOW)
    rejection = state.apply(1, order(NOON + 1000), NOW)
    assert not isinstance(rejection, bool) and rejection.reason == "too_late"
    assert state.apply(2, order(NOON + DAY), NOW) is True  # the next day is open: it counts


def test_a_follow_step_never_moves_the_watermark_back_and_publishes_nothing_then() -> None:
    state = fresh()
    state.apply(0, order(NOON), NOW)
    state.checkpoint(NOW)
    assert not state.follow(NOON - 1) and not state.follow(NOON)
    assert state.watermark == NOON and state.checkpoint(NOW) is None


def test_a_follow_step_waits_for_the_pending_range_to_be_published() -> None:
    state = fresh()
    state.apply(0, order(NOON), NOW)
    with pytest.raises(ValueError, match="between ranges"):
        state.follow(CLOSES)


def test_a_partition_that_never_had_a_record_follows_from_where_its_log_ends() -> None:
    state = fresh()
    with pytest.raises(ValueError, match="where its log ends"):
        state.follow(CLOSES)
    assert state.follow(CLOSES, at=7)
    record = state.checkpoint(NOW)
    assert record is not None and (record.start, record.end, record.follow) == (7, 7, CLOSES)
    assert state.apply(7, order(NOON), NOW) is not True  # its first order, of a closed day: too late


def test_a_follow_step_is_version_4_and_every_other_checkpoint_stays_version_3() -> None:
    state = fresh()
    state.apply(0, order(NOON), NOW)
    plain = state.checkpoint(NOW)
    state.follow(CLOSES)
    step = state.checkpoint(NOW)
    assert plain is not None and step is not None
    assert orjson.loads(plain.encode())["v"] == 3 and "follow" not in orjson.loads(plain.encode())
    assert orjson.loads(step.encode())["v"] == 4
    assert Checkpoint.decode(step.encode()).follow == CLOSES
    assert Range.of(link(step.encode())) == Range(1, 1, NOW, frozenset(), CLOSES)


@pytest.mark.parametrize(("watermarks", "idle", "expected"), [
    ({0: 50, 1: 70, 2: 0, 3: 0}, {2, 3}, 50),  # the lowest busy one: never ahead of the slowest
    ({0: 50, 1: 70, 2: 90}, {2}, 50),  # an idle partition ahead (it counted before) is not followed
    ({0: 50, 1: 0}, {0}, None),  # a busy partition that has counted nothing: its orders may be anywhere
    ({0: 50, 1: 70, 2: 0}, {0, 1, 2}, 70),  # none busy anywhere (the load stopped): the highest reached
    ({0: 0, 1: 0}, {0, 1}, None),  # none busy and nothing counted: held
    ({}, set(), None),
])
def test_an_idle_partition_follows_the_lowest_watermark_of_the_busy_ones(
        watermarks: dict[int, int], idle: set[int], expected: int | None) -> None:
    assert followed(watermarks, idle) == expected


# A partition's life: batches of orders (some copies of earlier ones, some junk) and follow steps, each
# step `hours` past the watermark. The orders fall over three days, the steps can close any of them.
_orders = st.lists(st.tuples(st.integers(0, 3 * 24 * 60 - 1), st.integers(0, 30), st.booleans()),
                   min_size=1, max_size=6)
_steps = st.lists(st.one_of(st.tuples(st.just("orders"), _orders),
                            st.tuples(st.just("follow"), st.integers(1, 30))), min_size=1, max_size=12)


def _live(steps: list[tuple[str, Any]], snapshot_after: int | None
          ) -> tuple[PartitionState, list[bytes | None], list[bytes], tuple[Any, int] | None]:
    """Run the steps as the worker does (a checkpoint after each); returns the state, the input log, the
    published checkpoints, and the snapshot taken after step `snapshot_after` with how many checkpoints
    were published before it."""
    state, log, published, taken = fresh(), [], [], None
    for number, (kind, value) in enumerate(steps):
        if kind == "orders":
            batch = []
            for minute, event, junk in value:
                raw = b"not json" if junk else order(NOON - 12 * HOUR + minute * 60_000, f"e{event}",
                                                      cents=100 + minute)
                batch.append(Record(len(log), raw))
                log.append(raw)
            state.apply_batch(batch, NOW)
        elif not state.follow(max(state.watermark, NOON) + value * HOUR, at=len(log)):
            continue
        record = state.checkpoint(NOW)
        assert record is not None
        published.append(record.encode())
        if number == snapshot_after:
            taken = snapshot_of(state), len(published)
    return state, log, published, taken


def _probe(state: PartitionState, at: int) -> tuple[int, dict[str, Any], list[int]]:
    """What a partition's state decides from here on: its watermark, its open days, and which of the
    three days a new order is too late for."""
    days = {name: sales.head() for name, sales in state.days.items()}
    batch = [Record(at + i, order(NOON - 12 * HOUR + i * DAY + 1, f"probe{i}")) for i in range(3)]
    rejected = [orjson.loads(record.value() or b"") for record, _ in state.apply_batch(batch, NOW).rejected]
    return state.watermark, days, [event["occurred_at"] for event in rejected]


@settings(max_examples=150, deadline=None)
@given(_steps, st.none() | st.integers(0, 11))
def test_a_recount_of_the_published_ranges_reaches_the_state_its_predecessor_published(
        steps: list[tuple[str, Any]], snapshot_after: int | None) -> None:
    live, log, published, taken = _live(steps, snapshot_after)
    successor, after = fresh(), published  # no snapshot: the whole chain is counted again
    if taken is not None:
        successor, after = PartitionState.restore(taken[0], RULES), published[taken[1]:]
    first = 0 if successor.end is None else successor.end
    successor.recount([Range.of(link(raw)) for raw in after],
                      (Record(o, log[o]) for o in range(first, len(log))))
    assert successor.end == live.end
    assert _probe(successor, len(log)) == _probe(live, len(log))


def test_a_follow_step_too_large_for_one_record_carries_the_step_on_its_last_part_only() -> None:
    state = fresh()
    state.apply_batch([Record(n, order(NOON - 12 * HOUR + n * 60_000, f"e{n}")) for n in range(600)], NOW)
    busy = state.checkpoint(NOW)
    assert busy is not None
    # a step whose record carries a day too large for one record (e.g. many minutes still to send)
    step = Checkpoint(0, 600, 600, NOW, CLOSES, NOW, busy.days, closed=["2026-11-27"], follow=CLOSES,
                      held_watermark=busy.watermark)
    parts = [orjson.loads(raw) for raw in step.parts(budget=4_096)]
    assert len(parts) > 1
    assert [(p["v"], p.get("follow")) for p in parts] == [(3, None)] * (len(parts) - 1) + [(4, CLOSES)]
    assert Range.of(link(orjson.dumps(parts[-1]))) == Range(600, 600, NOW, frozenset(), CLOSES)
    assert parts[-1]["closed"] == ["2026-11-27"] and all("closed" not in p for p in parts[:-1])
