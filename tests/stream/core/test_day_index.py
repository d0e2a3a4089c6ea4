"""The day index: per partition and day, the first and last input offset counted or tallied into the day,
and where the day closed. Whatever the records' Kafka timestamps (none, out of order, year 2100), the index
the worker publishes, batched, snapshotted and restored, folded and compacted by a reader, spans exactly
the records that changed the day's figures, found record by record. Seeded (derandomize)."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.core.eventtime import DAY_MS, parse_day
from stream.core.partition import PartitionState
from stream.core.record import Record
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.core import snapshot_of
from tests.support.orders import NOON, order_event

RULES = Rules(allowed_lateness_ms=3_600_000, dedupe_horizon_ms=900_000)
YEAR_2100 = 4_102_444_800_000
CLOCK = NOON + 3 * DAY_MS  # the worker's clock: after every order but those from the future
SETTINGS = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Three days around NOON's, hours apart, so days close, late orders arrive and copies outlive the horizon.
times = st.integers(NOON - DAY_MS, NOON + 2 * DAY_MS)
stamps = st.one_of(st.just(0), times, st.integers(1, 2**41), st.just(YEAR_2100))  # 0: no timestamp
kinds = st.sampled_from(["order", "order", "order", "copy", "junk", "future", "refund"])


@st.composite
def logs(draw: st.DrawFn) -> list[Record]:
    """A partition's records: orders of three days in any order, copies of earlier ones, junk, orders from
    the future, refunds; each with any Kafka timestamp."""
    out: list[Record] = []
    events: list[dict[str, Any]] = []
    for offset in range(draw(st.integers(1, 40))):
        kind = draw(kinds)
        if kind == "copy" and events:
            event = draw(st.sampled_from(events))
        elif kind == "junk":
            out.append(Record(offset, draw(st.binary(max_size=8)), draw(stamps)))
            continue
        else:
            occurred = NOON + 30 * DAY_MS if kind == "future" else draw(times)
            kind_of = "order_refunded" if kind == "refund" else "order_placed"
            event = order_event(occurred_at=occurred, type=kind_of)
            events.append(event)
        out.append(Record(offset, orjson.dumps(event), draw(stamps)))
    return out


def figures(state: PartitionState) -> dict[str, Any]:
    return {name: (s.totals.to_list(), dict(s.dead), s.late, s.rerouted) for name, s in state.days.items()}


def truth(log: list[Record]) -> dict[str, tuple[int, int]]:
    """Record by record: the offsets at which a day's figures changed, first and last."""
    state = PartitionState(0, RULES)
    seen: dict[str, list[int]] = {}
    for record in log:
        before = figures(state)
        state.apply_batch([record], CLOCK)
        for name, after in figures(state).items():
            if before.get(name) != after:
                seen.setdefault(name, []).append(record.offset())
        state.checkpoint(0)
    return {name: (min(found), max(found)) for name, found in seen.items()}


def published(log: list[Record], cuts: list[int], snapshot_at: int) -> SalesView:
    """The log counted record by record (where a batch's dead letters are tallied depends on where batches
    end, so the truth uses the same), checkpointed at `cuts`, the partition snapshotted and restored (as
    a successor worker would) after checkpoint `snapshot_at`, every checkpoint folded by a reader that
    compacts closed days."""
    state = PartitionState(0, RULES)
    view = SalesView(RULES)
    bounds = sorted({0, *(c % (len(log) + 1) for c in cuts), len(log)})
    for n, (start, stop) in enumerate(itertools.pairwise(bounds)):
        for record in log[start:stop]:
            state.apply_batch([record], CLOCK)
        checkpoint = state.checkpoint(0)
        if checkpoint is not None:
            view.accept(checkpoint)
            view.close_days(1)
        if n == snapshot_at:
            state = PartitionState.restore(snapshot_of(state), RULES)
    return view


@SETTINGS
@given(logs(), st.lists(st.integers(0, 60), max_size=6), st.integers(0, 6))
def test_the_index_spans_exactly_the_records_that_changed_the_day(
        log: list[Record], cuts: list[int], snapshot_at: int) -> None:
    view = published(log, cuts, snapshot_at)
    expected = truth(log)
    for name, covered in expected.items():
        index = view.index(name)
        assert set(index) == {0}, name
        assert (index[0].first, index[0].last) == covered, name
    assert {day.name for day in view.days()} == set(expected)


@SETTINGS
@given(logs(), st.lists(st.integers(0, 60), max_size=6))
def test_a_closed_day_stops_where_its_close_was_published_past_every_record_of_it(
        log: list[Record], cuts: list[int]) -> None:
    view = published(log, cuts, snapshot_at=-1)
    for name in view.closed_days:
        covered = view.index(name)[0]
        assert covered.stop is not None and covered.last < covered.stop <= len(log)
        # the watermark at the stop has passed the day's end plus the lateness: nothing after can change it
        highest = max((t for r in log[:covered.stop] if (t := occurred(r)) is not None), default=0)
        assert highest >= parse_day(name)[1] + RULES.allowed_lateness_ms


def occurred(record: Record) -> int | None:
    """The occurred_at of an order that counts at CLOCK (every order this test makes but the future's)."""
    try:
        event = orjson.loads(record.raw or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("occurred_at"), int):
        return None
    return event["occurred_at"] if event["occurred_at"] <= CLOCK else None


def test_five_days_of_index_are_a_few_bytes_a_day_and_partition() -> None:
    state = PartitionState(0, RULES)
    view = SalesView(RULES)
    offset = 0
    for day in range(6):  # five days close; the sixth is open
        for minute in range(0, 1440, 7):
            event = order_event(occurred_at=NOON - 12 * 3_600_000 + day * DAY_MS + minute * 60_000)
            state.apply_batch([Record(offset, orjson.dumps(event))], NOON + 7 * DAY_MS)
            offset += 1
        checkpoint = state.checkpoint(0)
        assert checkpoint is not None
        view.accept(checkpoint)
        view.close_days(1)
    assert len(view.closed_days) == 5
    heads, _ = state.snapshot(taken_ms=1, aggregates_from=0)
    sizes = [len(orjson.dumps(view.snapshot(name)["index"])) for name in view.closed_days]
    assert all(size <= 40 for size in sizes), sizes  # {"0":[first,last,end]}: per partition and day
    assert any(b'"o":[' in value for _, value in heads if value)
