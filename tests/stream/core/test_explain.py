"""Explain this number: per minute, the duplicates dropped and the late corrections counted in it, from
the checkpoints (open days), a snapshot (a restarted reader) and a compacted day, exactly."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.core import snapshot_of
from tests.support.orders import NOON, order_event

DAY = "2026-11-27"
A, B = NOON, NOON + 5 * 60_000  # two minutes: once the watermark is in B, A is final (5 s grace)
NOW = NOON + 3 * 86_400_000


def _counted(events: list[dict[str, Any]]) -> tuple[PartitionState, SalesView]:
    state, view = PartitionState(0, Rules()), SalesView()
    for offset, event in enumerate(events):
        state.apply(offset, orjson.dumps(event), NOW)
        record = state.checkpoint(NOW)  # one checkpoint an event: each is folded as it came
        if record is not None:
            view.apply(record.encode())
    return state, view


def _explained(view: SalesView, minute: int) -> tuple[int, int, int, bool]:
    found = view.explain(DAY, minute)
    return found["orders"], found["duplicates_dropped"], found["late_corrections"], found["final"]


def test_a_minute_says_what_made_it() -> None:
    first, second, late = (order_event(occurred_at=A + 1000), order_event(occurred_at=B + 1000),
                           order_event(occurred_at=A + 2000))
    state, view = _counted([first, second, late, first, second, second])
    assert _explained(view, A) == (2, 1, 1, True)  # two orders, one dropped copy, one came after final
    assert _explained(view, B) == (1, 2, 0, False)
    assert _explained(view, B + 60_000) == (0, 0, 0, False)  # a minute that sold nothing (yet)
    reader = SalesView()
    reader.load(snapshot_of(state))  # a restarted app: from the snapshot's day record
    assert _explained(reader, A) == (2, 1, 1, True)
    closer = order_event(occurred_at=NOON + 2 * 86_400_000)  # the day closes and is compacted
    state.apply(6, orjson.dumps(closer), NOW)
    record = state.checkpoint(NOW)
    assert record is not None
    view.apply(record.encode())
    assert view.close_days(1) == [DAY]
    assert _explained(view, A) == (2, 1, 1, True) and _explained(view, B) == (1, 2, 0, True)


_events = st.lists(st.tuples(st.integers(0, 9), st.integers(0, 6 * 60_000)), max_size=40)


@given(_events, st.lists(st.integers(0, 39), max_size=20))
@settings(max_examples=80, deadline=None)
def test_the_minutes_add_up_to_the_partitions_counters(orders: list[tuple[int, int]],
                                                         again: list[int]) -> None:
    events = [order_event(occurred_at=NOON + at) for _, at in orders]
    events += [events[i] for i in again if i < len(events)]
    state, view = _counted(events)
    day = view.snapshot(DAY)
    minutes = [view.explain(DAY, m["start_ms"]) for m in day["minutes"]]
    assert sum(m["duplicates_dropped"] for m in minutes) == state.duplicates
    assert sum(m["late_corrections"] for m in minutes) == day["late_events"]
    assert sum(m["orders"] for m in minutes) == day["totals"]["orders"] == len(orders)
