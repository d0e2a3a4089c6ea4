"""The app's view: checkpoints from many partitions folded into one day, with changes tracked for pushes."""

import orjson

from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.core import snapshot_of
from tests.support.orders import NOON, order_event

NOW = NOON + 60_000


def checkpoints(partition: int, *events: dict, rules: Rules | None = None) -> list[bytes]:
    state = PartitionState(partition, rules or Rules())
    out = []
    for offset, event in enumerate(events):
        state.apply(offset, orjson.dumps(event), NOW)
        record = state.checkpoint(NOW)
        assert record is not None
        out.append(record.encode())
    return out


def test_partitions_add_up_and_newer_checkpoints_replace_older_ones() -> None:
    view = SalesView()
    p0 = checkpoints(0, order_event(total_minor=1000), order_event(total_minor=500))
    p1 = checkpoints(1, order_event(total_minor=250, type="order_refunded"))
    for record in (*p0, *p1):
        assert view.apply(record)
    snapshot = view.snapshot("2026-11-27")
    assert snapshot["totals"] == {"orders": 2, "gross_cents": 1500, "refunds_cents": 250, "net_cents": 1250,
                                  "aov_cents": 750, "unique_customers": 1}
    assert snapshot["minutes"] == [{"start_ms": NOON, "orders": 2, "gross_cents": 1500, "refunds_cents": 250,
                                    "final": False}]


def test_a_checkpoint_seen_twice_does_not_double_the_day() -> None:
    view = SalesView()
    (record,) = checkpoints(0, order_event(total_minor=1000))
    assert view.apply(record)
    assert not view.apply(record)
    assert view.snapshot("2026-11-27")["totals"]["gross_cents"] == 1000


def test_other_days_stay_out_of_a_day() -> None:
    view = SalesView()
    two_days = Rules(allowed_lateness_ms=2 * 86_400_000)
    yesterday = order_event(total_minor=900, occurred_at=NOON - 86_400_000)
    for record in checkpoints(0, order_event(total_minor=100), yesterday, rules=two_days):
        view.apply(record)
    assert view.snapshot("2026-11-27")["totals"]["gross_cents"] == 100
    assert view.snapshot("2026-11-26")["totals"]["gross_cents"] == 900
    assert view.snapshot("2026-11-25")["minutes"] == []


def test_changes_are_reported_once_by_day() -> None:
    view = SalesView()
    for record in checkpoints(0, order_event(), order_event(occurred_at=NOON + 61_000)):
        view.apply(record)
    changes = view.take_changes()
    assert list(changes) == ["2026-11-27"]
    assert changes["2026-11-27"].minutes == {NOON, NOON + 60_000}
    assert view.take_changes() == {}


def test_a_minute_that_becomes_final_without_new_sales_is_pushed_again() -> None:
    view = SalesView(Rules(grace_ms=5_000))
    state = PartitionState(0, Rules(grace_ms=5_000))
    state.apply(0, orjson.dumps(order_event(occurred_at=NOON + 1_000)), NOW)
    first = state.checkpoint(NOW)
    state.apply(1, orjson.dumps(order_event(occurred_at=NOON + 66_000)), NOW)  # watermark past NOON's grace
    second = state.checkpoint(NOW)
    assert first is not None and second is not None
    view.apply(first.encode())
    view.take_changes()
    assert view.snapshot("2026-11-27")["minutes"][0]["final"] is False
    view.apply(second.encode())
    changes = view.take_changes()["2026-11-27"]
    assert NOON in changes.minutes  # unchanged figures, but now final: the page must hear of it
    delta = view.snapshot("2026-11-27", changes)
    assert [m["final"] for m in delta["minutes"] if m["start_ms"] == NOON] == [True]
    assert NOON not in view.take_changes().get("2026-11-27", type(changes)()).minutes


def test_a_past_day_closes_only_once_every_partition_has_been_heard_from() -> None:
    # An app that starts while the worker is still counting a backfill: partition 0's checkpoints reach
    # a later day before partition 1's first one arrives with the rest of the past day.
    view = SalesView()
    lenient = Rules(allowed_lateness_ms=4 * 86_400_000)
    past, later = NOON - 3 * 86_400_000, NOON
    p0 = checkpoints(0, order_event(total_minor=100, occurred_at=past),
                     order_event(total_minor=10, occurred_at=later), rules=lenient)
    first, last = checkpoints(1, order_event(total_minor=900, occurred_at=past),
                              order_event(total_minor=5, occurred_at=later), rules=lenient)
    for record in p0:
        view.apply(record)
    assert view.close_days(2) == []
    view.apply(first)
    assert view.close_days(2) == []  # partition 1's watermark is still in that day
    view.apply(last)
    assert view.close_days(2) == ["2026-11-24"]
    assert view.snapshot("2026-11-24")["totals"]["gross_cents"] == 1000


def test_a_reader_started_from_snapshots_compacts_the_days_over_everywhere_and_shows_the_same_figures(
) -> None:
    # Two partitions, each with three past days and today: the start holds one past day at a time.
    day_ms = 86_400_000
    lenient = Rules(allowed_lateness_ms=4 * day_ms)
    snapshots = {}
    for partition in (0, 1):
        state = PartitionState(partition, lenient)
        events = [order_event(total_minor=100 * (partition + 1) + back, occurred_at=NOON - back * day_ms,
                              merchant_id=f"m{partition}{back}") for back in (3, 2, 1, 0)]
        for offset, event in enumerate(events):
            state.apply(offset, orjson.dumps(event), NOW)
            state.checkpoint(NOW)
        snapshots[partition] = snapshot_of(state)
    started = SalesView()
    started.start(snapshots, partitions=2)
    loaded = SalesView()
    for snapshot in snapshots.values():
        loaded.load(snapshot)
    # Day D closes for the plain view once both watermarks (today) are past D's end plus an hour.
    assert loaded.close_days(2) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert sorted(started.closed_days) == ["2026-11-24", "2026-11-25", "2026-11-26"]
    assert all("2026-11-2" + d not in led.days for led in started.ledgers.values() for d in "456")
    for day in ("2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"):
        assert started.snapshot(day) == loaded.snapshot(day), day
    assert started.snapshot("2026-11-24")["totals"]["gross_cents"] == 103 + 203


def test_a_reader_started_without_every_partitions_snapshot_compacts_nothing() -> None:
    state = PartitionState(0, Rules())
    state.apply(0, orjson.dumps(order_event(occurred_at=NOON - 86_400_000)), NOW)
    state.checkpoint(NOW)
    state.apply(1, orjson.dumps(order_event(occurred_at=NOON)), NOW)
    state.checkpoint(NOW)
    view = SalesView()
    view.start({0: snapshot_of(state)}, partitions=2)
    assert view.closed_days == {}
    assert view.snapshot("2026-11-26")["totals"]["orders"] == 1
