"""Each merchant's own day (stream.core.merchantday): what a reader folds from the checkpoints, or from a
snapshot and the checkpoints after it, is that merchant's truth, however the events are batched."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.core.budget import RECORD_BUDGET
from stream.core.checkpoint import Checkpoint
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from stream.core.snapshot import SnapshotFold
from tests.support.core import snapshot_of
from tests.support.orders import NOON, order_event
from tests.support.truth import usd_cents

DAY = "2026-11-27"
NOW = NOON + 3_600_000
MERCHANTS = ["m1", "m2", "m3"]

_events = st.builds(
    lambda merchant, minute, ms, channel, country, currency, refund, sku, qty, price: order_event(
        merchant_id=merchant, merchant_name=f"name of {merchant}", occurred_at=NOON + minute * 60_000 + ms,
        channel=channel, country=country, currency=currency,
        type="order_refunded" if refund else "order_placed", total_minor=qty * price,
        lines=[{"sku": f"{merchant}-{sku}", "title": f"t{sku}", "qty": qty, "price_minor": price}]),
    st.sampled_from(MERCHANTS), st.integers(0, 5), st.integers(0, 59_999), st.sampled_from(["online", "pos"]),
    st.sampled_from(["US", "DE", "JP"]), st.sampled_from(["USD", "EUR", "JPY"]), st.booleans(),
    st.integers(0, 12), st.integers(1, 3), st.integers(1, 99_999))


def _truth(events: list[dict[str, Any]], merchant: str) -> dict[str, Any]:
    """The merchant's figures, from the events alone (each event_id once)."""
    seen: set[str] = set()
    totals = [0, 0, 0]
    minutes: dict[int, list[int]] = {}
    seconds: dict[int, list[int]] = {}  # the events span six minutes: every second is within the horizon
    channels: dict[str, list[int]] = {}
    countries: dict[str, list[int]] = {}
    products: dict[str, list[int]] = {}
    for event in events:
        if event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        if event["merchant_id"] != merchant:
            continue
        cents = usd_cents(event["total_minor"], event["currency"])
        refund = event["type"] == "order_refunded"
        cells = [totals, minutes.setdefault(event["occurred_at"] // 60_000 * 60_000, [0, 0, 0]),
                 seconds.setdefault(event["occurred_at"] // 1_000 * 1_000, [0, 0, 0]),
                 channels.setdefault(event["channel"], [0, 0, 0]),
                 countries.setdefault(event["country"], [0, 0, 0])]
        for cell in cells:
            if refund:
                cell[2] += cents
            else:
                cell[0] += 1
                cell[1] += cents
        for line in event["lines"]:
            product = products.setdefault(line["sku"], [0, 0])
            sign = -1 if refund else 1
            product[0] += sign * line["qty"]
            product[1] += sign * usd_cents(line["qty"] * line["price_minor"], event["currency"])
    best = sorted(products.items(), key=lambda kv: (-kv[1][1], kv[0]))[:10]
    return {
        "totals": {"orders": totals[0], "gross_cents": totals[1], "refunds_cents": totals[2],
                   "net_cents": totals[1] - totals[2]},
        "minutes": {m: v for m, v in sorted(minutes.items())},
        "seconds": {s: v for s, v in sorted(seconds.items())},
        "channels": {k: [v[0], v[1] - v[2]] for k, v in channels.items()},
        "countries": {k: [v[0], v[1] - v[2]] for k, v in countries.items()},
        "top_products": [[sku, qty, net] for sku, (qty, net) in best],
    }


def _shown(view: SalesView, merchant: str) -> dict[str, Any]:
    day = view.merchant_snapshot(DAY, merchant)
    totals = {k: day["totals"][k] for k in ("orders", "gross_cents", "refunds_cents", "net_cents")}
    return {
        "totals": totals,
        "minutes": {m["start_ms"]: [m["orders"], m["gross_cents"], m["refunds_cents"]]
                    for m in day["minutes"]},
        "seconds": _cells(day["seconds"]),
        "channels": {c["channel"]: [c["orders"], c["net_cents"]] for c in day["channels"]},
        "countries": {c["country"]: [c["orders"], c["net_cents"]] for c in day["countries"]},
        "top_products": [[p["sku"], p["qty"], p["net_cents"]] for p in day["top_products"]],
    }


def _cells(buckets: list[dict[str, Any]]) -> dict[int, list[int]]:
    return {b["start_ms"]: [b["orders"], b["gross_cents"], b["refunds_cents"]] for b in buckets}


def _publish(state: PartitionState, view: SalesView, budget: int) -> None:
    record = state.checkpoint(NOW)
    if record is not None:
        for part in record.parts(budget):
            assert view.accept(Checkpoint.decode(part))


def _counted(raws: list[bytes], cuts: list[int], handover: int, budget: int
             ) -> tuple[SalesView, SalesView | None]:
    """The records counted in ranges cut at `cuts`, read live; and from `handover` on also by a worker and
    a reader that start from the snapshot taken there (the merchants' details are its rows), if any."""
    state = PartitionState(0, Rules())
    live = SalesView()
    successor: tuple[PartitionState, SalesView] | None = None
    bounds = sorted({0, *[min(c, len(raws)) for c in cuts], min(handover, len(raws)), len(raws)})
    for start, end in itertools.pairwise(bounds):
        if start == min(handover, len(raws)) and successor is None and state.end is not None:
            taken = snapshot_of(state)
            reader = SalesView()
            reader.load(taken)
            successor = (PartitionState.restore(taken, Rules()), reader)
        for offset in range(start, end):
            state.apply(offset, raws[offset], NOW)
            if successor is not None:
                successor[0].apply(offset, raws[offset], NOW)
        _publish(state, live, budget)
        if successor is not None:
            _publish(*successor, budget)
    return live, None if successor is None else successor[1]


@given(st.lists(_events, max_size=40), st.lists(st.integers(0, 40), max_size=5), st.integers(0, 40),
       st.sampled_from([600, 512 * 1024]))
@settings(max_examples=120, deadline=None)
def test_a_merchants_view_is_its_truth(events: list[dict[str, Any]], cuts: list[int], handover: int,
                                        budget: int) -> None:
    events = events + events[: len(events) // 3]  # some delivered twice
    raws = [orjson.dumps(e) for e in events]
    live, restarted = _counted(raws, cuts, handover, budget)
    for merchant in MERCHANTS:
        truth = _truth(events, merchant)
        assert _shown(live, merchant) == truth
        if restarted is not None:
            assert _shown(restarted, merchant) == truth


def test_a_merchant_that_sold_nothing_shows_zero() -> None:
    day = SalesView().merchant_snapshot(DAY, "nobody")
    assert day["totals"]["orders"] == 0 and day["minutes"] == [] and day["top_products"] == []


def test_a_closed_day_keeps_its_merchants() -> None:
    state = PartitionState(0, Rules())
    view = SalesView()
    events = [order_event(merchant_id="m1", total_minor=700, lines=[
        {"sku": "a", "title": "A", "qty": 1, "price_minor": 700}]) for _ in range(3)]
    events.append(order_event(merchant_id="m2", occurred_at=NOON + 2 * 86_400_000))  # closes the day
    for offset, event in enumerate(events):
        assert state.apply(offset, orjson.dumps(event), NOON + 2 * 86_400_000) is True
    _publish(state, view, 512 * 1024)
    assert view.close_days(1) == [DAY]
    day = view.merchant_snapshot(DAY, "m1")
    assert day["totals"]["orders"] == 3 and day["totals"]["net_cents"] == 2100
    assert "merchants" not in view.snapshot(DAY)


def test_a_readers_snapshot_holds_the_merchants_details_and_not_the_workers_rows() -> None:
    state = PartitionState(0, Rules())
    for offset in range(3):
        event = order_event(merchant_id=f"m{offset}", total_minor=100 + offset)
        state.apply(offset, orjson.dumps(event), NOW)
    assert state.checkpoint(NOW) is not None
    heads, tables = state.snapshot(taken_ms=1, aggregates_from=0)
    fold = SnapshotFold(0, tables=False)
    for key, value in [*tables, *heads]:
        fold.add(key, value)
    taken = fold.result(with_tables=False)
    assert taken is not None and not taken.merchants and not taken.pieces
    reader = SalesView()
    reader.load(taken)
    gross = [reader.merchant_snapshot(DAY, f"m{n}")["totals"]["gross_cents"] for n in range(3)]
    assert gross == [100, 101, 102]


def test_a_checkpoint_of_many_merchants_fits_the_part_budget_and_folds_whole() -> None:
    # 3,000 merchants selling in 20 minutes each, in one range: ~2 MB of merchant details to publish.
    state = PartitionState(0, Rules())
    events = [order_event(merchant_id=f"m{n:04d}", occurred_at=NOON + minute * 60_000, total_minor=100 + n)
              for n in range(3_000) for minute in range(20)]
    for offset, event in enumerate(events):
        state.apply(offset, orjson.dumps(event), NOW)
    record = state.checkpoint(NOW)
    assert record is not None
    parts = record.parts()
    assert len(parts) > 1 and max(len(part) for part in parts) <= RECORD_BUDGET
    view = SalesView()
    for part in parts:
        assert view.accept(Checkpoint.decode(part))
    for n in (0, 1_234, 2_999):
        day = view.merchant_snapshot(DAY, f"m{n:04d}")
        assert day["totals"]["orders"] == 20 and len(day["minutes"]) == 20
        assert day["totals"]["gross_cents"] == 20 * (100 + n)


_spread = st.builds(  # an hour of orders, in any order: many seconds fall out of the 15-minute horizon
    lambda merchant, ms, refund: order_event(
        merchant_id=merchant, occurred_at=NOON + ms, total_minor=100 + ms % 7,
        type="order_refunded" if refund else "order_placed"),
    st.sampled_from(MERCHANTS), st.integers(0, 3_600_000), st.booleans())


@given(st.lists(_spread, max_size=60), st.lists(st.integers(0, 60), max_size=6), st.integers(0, 60))
@settings(max_examples=120, deadline=None)
def test_a_merchants_seconds_sum_with_the_others_to_the_days_own(
        events: list[dict[str, Any]], cuts: list[int], handover: int) -> None:
    # Which orders count in a second depends on the watermark when they come (the horizon): whatever it
    # decided for the day, each second's merchants add up to it, live and after a restart from a snapshot.
    live, restarted = _counted([orjson.dumps(e) for e in events], cuts, handover, 600)
    views = [live] if restarted is None else [live, restarted]
    for view in views:
        day = _cells(view.snapshot(DAY)["seconds"])
        summed: dict[int, list[int]] = {}
        for merchant in MERCHANTS:
            for second, cell in _cells(view.merchant_snapshot(DAY, merchant)["seconds"]).items():
                total = summed.setdefault(second, [0, 0, 0])
                summed[second] = [a + b for a, b in zip(total, cell, strict=True)]
        assert summed == {s: cell for s, cell in day.items() if cell != [0, 0, 0]}
        newest = max((e["occurred_at"] for e in events), default=0)
        assert all(second >= newest - 900_000 - 1_000 for second in summed)  # nothing past the horizon
    if restarted is not None:
        assert [_cells(restarted.merchant_snapshot(DAY, m)["seconds"]) for m in MERCHANTS] == \
            [_cells(live.merchant_snapshot(DAY, m)["seconds"]) for m in MERCHANTS]


def test_a_closed_day_keeps_its_merchants_minutes_but_not_their_seconds() -> None:
    state, view = PartitionState(0, Rules()), SalesView()
    events = [order_event(merchant_id="m1", occurred_at=NOON + i * 1_000) for i in range(3)]
    events.append(order_event(merchant_id="m2", occurred_at=NOON + 2 * 86_400_000))  # closes the day
    for offset, event in enumerate(events[:3]):
        state.apply(offset, orjson.dumps(event), NOW)
    _publish(state, view, 512 * 1024)
    assert len(view.merchant_snapshot(DAY, "m1")["seconds"]) == 3  # open: its seconds shown
    state.apply(3, orjson.dumps(events[3]), NOON + 2 * 86_400_000)
    _publish(state, view, 512 * 1024)
    assert view.close_days(1) == [DAY]
    closed = view.merchant_snapshot(DAY, "m1")
    assert closed["seconds"] == [] and closed["totals"]["orders"] == 3 and len(closed["minutes"]) == 1
    _, tables = state.snapshot(taken_ms=1, aggregates_from=0)
    rows = [orjson.loads(value) for key, value in tables
            if value is not None and orjson.loads(key)[1:3] == ["mm", DAY]]
    assert rows and all("s" not in row for row in rows)  # the state topic keeps no seconds of a closed day
