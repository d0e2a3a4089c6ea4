"""A merchant's view compares with the same default day as the global page, from that merchant's own
figures of it: /api/snapshot?merchant= and the merchant's websocket snapshot carry its compare object and
comparison, equal to a recount of the test's own orders of that merchant."""

from __future__ import annotations

import time
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.compare import Comparisons, with_merchant_compare
from stream.core.salesview import SalesView
from tests.app.test_compare import OLD, OLD_ORDERS, SHOWN, SHOWN_ORDERS, at, events, expected, tenths
from tests.support.inprocess import app, checkpoints

OTHER_OLD, OTHER_SHOWN = [("12:00:00", 50_000, False)], [("14:06:30", 70_000, False)]  # m00002's


def records() -> list[bytes]:
    now = int(time.time() * 1000)
    return checkpoints(events(OLD, OLD_ORDERS) + events(OLD, OTHER_OLD, "m00002")
                       + events(SHOWN, SHOWN_ORDERS) + events(SHOWN, OTHER_SHOWN, "m00002"), now)


def test_a_merchants_snapshot_compares_with_its_own_figures_of_the_default_day() -> None:
    with app(records()) as running:
        get = running.client.get
        mine = get("/api/snapshot", params={"day": SHOWN, "merchant": "m00001"}).json()
        other = get("/api/snapshot", params={"day": SHOWN, "merchant": "m00002"}).json()
        nobody = get("/api/snapshot", params={"day": SHOWN, "merchant": "nobody"}).json()
    assert mine["compare"]["day"] == OLD and mine["compare"]["closed"] is True
    assert mine["compare"]["totals"] == expected(OLD_ORDERS, "23:59")
    # Its own minutes of last year, not the day's: m00002's 12:00 sale is not among them.
    nets = [m["net_cents"] for m in mine["compare"]["minutes"]]
    assert nets == [1_000, 2_000, 4_000, 7_500, 16_000, 32_000]
    assert mine["comparison"]["shown"] == expected(SHOWN_ORDERS, "23:59")
    assert mine["comparison"]["net_tenths"] == tenths(15_000, 62_500)
    assert other["compare"]["totals"] == {"orders": 1, "net_cents": 50_000}
    assert other["comparison"]["net_tenths"] == tenths(70_000, 50_000)
    assert nobody["compare"]["totals"] == {"orders": 0, "net_cents": 0}
    assert nobody["comparison"]["net_tenths"] is None  # nothing last year to compare with


def test_a_merchants_websocket_snapshot_carries_its_compare_object_and_its_place_in_the_sequence() -> None:
    with app(records()) as running, running.client.websocket_connect(
            f"/ws?day={SHOWN}&merchant=m00002") as ws:
        first = orjson.loads(ws.receive_text())
    assert (first["type"], first["merchant_id"], first["seq"]) == ("snapshot", "m00002", 0)
    assert isinstance(first["epoch"], str)
    assert first["compare"]["day"] == OLD
    minutes = [(m["start_ms"], m["net_cents"]) for m in first["compare"]["minutes"]]
    assert minutes == [(at(OLD, "12:00:00"), 50_000)]


MERCHANTS = ["m1", "m2"]
_sale = st.tuples(st.sampled_from([OLD, SHOWN]), st.sampled_from(MERCHANTS), st.integers(0, 1439),
                  st.integers(0, 59), st.integers(1, 99_999), st.booleans())


def _recount(sales: list[tuple[str, str, int, int, int, bool]], day: str, merchant: str
             ) -> dict[int, list[int]]:
    """minute of day -> [orders, net] of `merchant` on `day`, from the sales alone."""
    minutes: dict[int, list[int]] = {}
    for d, m, minute, _, cents, refund in sales:
        if (d, m) == (day, merchant):
            row = minutes.setdefault(minute, [0, 0])
            row[0] += 0 if refund else 1
            row[1] += -cents if refund else cents
    return minutes


@given(st.lists(_sale, max_size=30), st.integers(0, 1439))
@settings(max_examples=80, deadline=None)
def test_a_merchants_compare_figures_are_a_recount_of_its_orders_of_both_days(
        sales: list[tuple[str, str, int, int, int, bool]], minute: int) -> None:
    # One order of a third merchant on each day: the old day has orders (the default needs some) and the
    # shown day's watermark closes it.
    sales = [*sales, (OLD, "m3", 0, 0, 1, False), (SHOWN, "m3", 0, 0, 1, False)]
    orders = [e for day in (OLD, SHOWN) for m in (*MERCHANTS, "m3") for e in events(
        day, [(f"{mm // 60:02d}:{mm % 60:02d}:{ss:02d}", cents, refund)
              for d, who, mm, ss, cents, refund in sales if (d, who) == (day, m)], m)]
    orders.sort(key=lambda e: e["occurred_at"])  # the old day first: then none of it comes too late
    view = SalesView()
    for raw in checkpoints(orders, int(time.time() * 1000)):
        view.apply(raw)
    view.close_days(1)
    comparisons = Comparisons(view)
    now = at(SHOWN, "00:00:00") + minute * 60_000
    for merchant in MERCHANTS:
        body: dict[str, Any] = with_merchant_compare(view.merchant_snapshot(SHOWN, merchant), comparisons,
                                                     now)
        old, shown = _recount(sales, OLD, merchant), _recount(sales, SHOWN, merchant)
        compared = body["compare"]
        assert compared["day"] == OLD
        assert [(m["start_ms"], m["orders"], m["net_cents"]) for m in compared["minutes"]] == [
            (at(OLD, "00:00:00") + k * 60_000, *v) for k, v in sorted(old.items())]
        assert compared["totals"] == {"orders": sum(v[0] for v in old.values()),
                                      "net_cents": sum(v[1] for v in old.values())}
        then = [sum(v[i] for k, v in old.items() if k <= minute) for i in (0, 1)]
        mine = [sum(v[i] for k, v in shown.items() if k <= minute) for i in (0, 1)]
        result = body["comparison"]
        assert result["minute_of_day"] == minute
        assert (result["shown"], result["other"]) == ({"orders": mine[0], "net_cents": mine[1]},
                                                      {"orders": then[0], "net_cents": then[1]})
        assert result["net_tenths"] == (tenths(mine[1], then[1]) if then[1] > 0 else None)
        assert result["orders_tenths"] == (tenths(mine[0], then[0]) if then[0] > 0 else None)
