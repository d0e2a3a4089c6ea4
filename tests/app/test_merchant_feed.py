"""A merchant's viewer on the hub: its snapshot is that merchant's figures, encoded once a tick for all
its watchers, then a delta of its touched minutes whenever its day changes, numbered like the
day's; the day's viewers never get them."""

from __future__ import annotations

import orjson

from app.fanout import Hub, Viewer
from app.merchant_feed import MerchantViewer
from stream.core.checkpoint import Checkpoint
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.orders import NOON, order_event

DAY = "2026-11-27"
NOW = NOON + 60_000


def test_a_merchant_viewer_gets_its_merchants_numbered_delta_when_the_day_changes() -> None:
    view, state = SalesView(), PartitionState(0, Rules())
    hub = Hub(view)
    mine, also_mine = MerchantViewer(DAY, "m1", hub), MerchantViewer(DAY, "m1", hub)
    everyone = Viewer(DAY)
    hub.viewers |= {mine, also_mine, everyone}

    def sell(offset: int, merchant: str, cents: int, at: int = NOON) -> None:
        event = order_event(merchant_id=merchant, total_minor=cents, occurred_at=at)
        state.apply(offset, orjson.dumps(event), NOW)
        record = state.checkpoint(NOW)
        assert record is not None
        view.accept(Checkpoint.decode(record.encode()))

    sell(0, "m1", 500, NOON - 600_000)  # a minute the second push does not touch
    sell(1, "m2", 7000)
    first = mine.next_message(hub.snapshot_message)
    assert first is also_mine.next_message(hub.snapshot_message)  # one encoding for both
    body = orjson.loads(first or "")
    assert (body["type"], body["merchant_id"], body["totals"]["net_cents"]) == ("snapshot", "m1", 500)
    assert body["seq"] == 0 and body["epoch"] == hub.epoch
    assert orjson.loads(everyone.next_message(hub.snapshot_message) or "")["totals"]["net_cents"] == 7500
    hub.publish()
    everyone.next_message(hub.snapshot_message)  # the delta of what came before it connected
    mine.next_message(hub.snapshot_message)
    sell(2, "m1", 250, NOON + 60_000)
    sell(3, "m2", 90, NOON + 120_000)  # another merchant's minute: not in m1's delta
    hub.publish()
    assert mine.wake.is_set()
    again = orjson.loads(mine.next_message(hub.snapshot_message) or "")
    assert (again["type"], again["totals"]["orders"], again["totals"]["net_cents"]) == ("delta", 2, 750)
    assert again["seq"] == 2 and again["epoch"] == hub.epoch  # step 2 of m1's day: step 1 went out before
    delta = orjson.loads(everyone.next_message(hub.snapshot_message) or "")
    assert delta["type"] == "delta" and delta["totals"]["net_cents"] == 7840
    # m1's minutes among the day's delta (the new ones and those just final): not m2's minute, where m1 sold
    # nothing.
    touched = {m["start_ms"] for m in delta["minutes"]}
    assert {NOON + 60_000, NOON + 120_000} <= touched and NOON - 600_000 not in touched
    sold = {NOON - 600_000: (1, 500), NOON + 60_000: (1, 250)}  # m1's orders of this test
    assert [(m["start_ms"], m["orders"], m["gross_cents"]) for m in again["minutes"]] == [
        (start, *figures) for start, figures in sorted(sold.items()) if start in touched]
