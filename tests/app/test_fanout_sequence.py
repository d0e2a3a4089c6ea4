"""Exactly once to the browser, the hub's side: every snapshot and delta names its process (`epoch`) and
the day's step (`seq`). A page that applies a delta only when it is the next step, and otherwise waits for
a snapshot, always shows a snapshot plus its deltas in order, and ends on the view's own figures, however
checkpoints, ticks, slow viewers and resyncs interleave."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.fanout import Hub, Viewer
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.orders import order_event
from tests.support.web import Fold, comparable

NOW_MS = 1_795_000_000_000  # 2026-11-18, a day the view counts as open
DAY = "2026-11-18"


class Page:
    """The page's rule (static/sequence.js) over one socket: a snapshot starts the count; a delta that is
    not the next step is not applied, and the page asks for a snapshot."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.fold = Fold()
        self.epoch: str | None = None
        self.seq = -1
        self.waiting = True  # nothing shown before the first snapshot
        self.out_of_step = 0

    def take(self, hub: Hub) -> None:
        raw = self.viewer.next_message(hub.snapshot_message)
        if raw is None:
            return
        message: dict[str, Any] = orjson.loads(raw)
        if message["type"] == "snapshot":
            self.epoch, self.seq, self.waiting = message["epoch"], message["seq"], False
        elif message["type"] == "delta":
            if self.waiting:
                return
            if (message["epoch"], message["seq"]) != (self.epoch, self.seq + 1):
                self.out_of_step += 1
                self.waiting = True
                self.viewer.ask_resync()
                return
            self.seq = message["seq"]
        self.fold.apply(message)


class Orders:
    """A worker's partitions, each cutting a checkpoint of the orders given to it."""

    def __init__(self, partitions: int) -> None:
        self.states = [PartitionState(p, Rules()) for p in range(partitions)]
        self.offsets = [0] * partitions

    def checkpoint(self, partition: int, count: int, step: int) -> bytes | None:
        state = self.states[partition]
        for i in range(count):
            event = order_event(occurred_at=NOW_MS - 3_600_000 + step * 7_000 + i,
                                total_minor=1_000 + 37 * i + step)
            state.apply(self.offsets[partition], orjson.dumps(event), NOW_MS)
            self.offsets[partition] += 1
        record = state.checkpoint(NOW_MS)
        return None if record is None else record.encode()


actions = st.lists(st.one_of(
    st.tuples(st.just("orders"), st.integers(0, 2), st.integers(1, 4)),
    st.tuples(st.just("tick"), st.just(0), st.just(0)),
    st.tuples(st.just("take"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("resync"), st.integers(0, 2), st.just(0)),
    st.tuples(st.just("reconnect"), st.integers(0, 2), st.just(0))), max_size=60)


@given(actions)
@settings(max_examples=150, deadline=None)
def test_a_page_that_keeps_the_sequence_shows_the_views_figures(steps: list[tuple[str, int, int]]) -> None:
    view = SalesView(Rules())
    hub = Hub(view)
    orders = Orders(3)
    pages = []
    for _ in range(3):
        viewer = Viewer(DAY)
        hub.viewers.add(viewer)
        pages.append(Page(viewer))
    for n, (kind, which, count) in enumerate(steps):
        if kind == "orders":
            record = orders.checkpoint(which, count, n)
            if record is not None:
                view.apply(record)
        elif kind == "tick":
            hub.publish()
        elif kind == "take":
            pages[which].take(hub)
        elif kind == "resync":
            pages[which].viewer.ask_resync()
        else:  # the socket dropped: a new one, a new count (the hub forgets the old viewer)
            hub.viewers.discard(pages[which].viewer)
            pages[which] = Page(viewer := Viewer(DAY))
            hub.viewers.add(viewer)
    hub.publish()
    for page in pages:
        for _ in range(4):  # what is pending, a resync's snapshot and what follows it
            page.take(hub)
        # One process's hub never sends a page a step out of order on one socket.
        assert page.out_of_step == 0
        assert comparable(page.fold.as_snapshot()) == comparable(view.snapshot(DAY))


def test_a_delta_from_another_process_is_out_of_step_for_the_page() -> None:
    view = SalesView(Rules())
    orders = Orders(1)
    first, second = Hub(view), Hub(view)
    assert first.epoch != second.epoch
    page = Page(viewer := Viewer(DAY))
    first.viewers.add(viewer)
    page.take(first)
    view.apply(orders.checkpoint(0, 2, 0) or b"")
    assert second.publish() == 0  # nobody watches there yet
    first.viewers.discard(viewer)
    second.viewers.add(viewer)
    view.apply(orders.checkpoint(0, 2, 1) or b"")
    second.publish()  # step 2 of the other process: not the step after the page's snapshot of the first
    page.take(second)
    assert page.out_of_step == 1 and page.waiting
    page.take(second)  # the snapshot it asked for, from the process it is on now
    assert page.epoch == second.epoch and not page.waiting
    assert comparable(page.fold.as_snapshot())["totals"] == view.snapshot(DAY)["totals"]
