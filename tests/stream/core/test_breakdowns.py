"""A day's breakdowns: countries, channels, top merchants and products, AOV and unique shoppers."""

import orjson

from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from stream.core.uniques import Uniques
from tests.support.orders import NOON, order_event

NOW = NOON + 60_000


def view_of(*partitions: list[dict]) -> SalesView:
    view = SalesView()
    for number, events in enumerate(partitions):
        state = PartitionState(number, Rules())
        for offset, event in enumerate(events):
            state.apply(offset, orjson.dumps(event), NOW)
        record = state.checkpoint(NOW)
        assert record is not None
        view.apply(record.encode())
    return view


def line(sku: str, qty: int, price: int) -> dict:
    return {"sku": sku, "title": f"title of {sku}", "qty": qty, "price_minor": price}


def test_breakdowns_sum_partitions_and_rank_by_net_sales() -> None:
    view = view_of(
        [order_event(merchant_id="m1", merchant_name="<img src=x onerror=alert(1)>", country="US",
                     channel="online", total_minor=3000, lines=[line("m1-a", 2, 1500)]),
         order_event(merchant_id="m1", country="DE", channel="pos", currency="EUR", total_minor=1000,
                     lines=[line("m1-b", 1, 1000)])],
        [order_event(merchant_id="m2", merchant_name="Zwei", country="US", channel="online",
                     total_minor=2000, customer_id="c2", lines=[line("m2-a", 4, 500)]),
         order_event(merchant_id="m2", country="US", channel="online", type="order_refunded",
                     total_minor=500, customer_id="c2", lines=[line("m2-a", 1, 500)])],
    )
    day = view.snapshot("2026-11-27")
    assert day["countries"] == [{"country": "US", "orders": 2, "net_cents": 4500},
                                {"country": "DE", "orders": 1, "net_cents": 1080}]
    assert day["channels"] == [{"channel": "online", "orders": 2, "net_cents": 4500},
                               {"channel": "pos", "orders": 1, "net_cents": 1080}]
    assert day["top_merchants"] == [
        {"merchant_id": "m1", "name": "<img src=x onerror=alert(1)>", "orders": 2, "net_cents": 4080},
        {"merchant_id": "m2", "name": "Zwei", "orders": 1, "net_cents": 1500}]
    assert day["top_products"][0] == {"sku": "m1-a", "title": "title of m1-a", "merchant_id": "m1",
                                      "qty": 2, "net_cents": 3000}
    assert {p["sku"]: (p["qty"], p["net_cents"]) for p in day["top_products"]}["m2-a"] == (3, 1500)
    assert day["totals"]["aov_cents"] == 2027  # 6080 gross / 3 orders = 2026.67
    assert day["totals"]["unique_customers"] == 2  # c000001 twice and c2: refunds bring no new shopper


def test_top_lists_hold_ten() -> None:
    view = view_of([order_event(merchant_id=f"m{i:02d}", total_minor=100 * (i + 1),
                                lines=[line(f"m{i:02d}-x", 1, 100 * (i + 1))]) for i in range(25)])
    day = view.snapshot("2026-11-27")
    assert [m["merchant_id"] for m in day["top_merchants"]] == [f"m{i:02d}" for i in range(24, 14, -1)]
    assert len(day["top_products"]) == 10


def test_unique_shoppers_merge_across_partitions_without_double_counting() -> None:
    left, right = Uniques(), Uniques()
    for i in range(20_000):
        left.add(f"c{i}")
    for i in range(10_000, 30_000):
        right.add(f"c{i}")
    merged = Uniques.union([left, right])
    assert abs(merged.estimate() - 30_000) / 30_000 < 0.05  # HLL with 4096 buckets: ~1.6% per sigma
    assert Uniques.from_bytes(merged.to_bytes()).estimate() == merged.estimate()


def test_a_refund_that_drops_a_merchant_out_of_the_top_ten_is_reflected() -> None:
    view = SalesView()
    state = PartitionState(0, Rules())
    events = [order_event(merchant_id="big", total_minor=50_000)]
    events += [order_event(merchant_id=f"m{i:02d}", total_minor=1_000 + i) for i in range(10)]
    for offset, event in enumerate(events):
        state.apply(offset, orjson.dumps(event), NOW)
    first = state.checkpoint(NOW)
    state.apply(len(events), orjson.dumps(order_event(merchant_id="big", type="order_refunded",
                                                      total_minor=49_900)), NOW)
    second = state.checkpoint(NOW)
    assert first is not None and second is not None
    view.apply(first.encode())
    assert view.snapshot("2026-11-27")["top_merchants"][0]["merchant_id"] == "big"
    view.apply(second.encode())
    top = view.snapshot("2026-11-27")["top_merchants"]
    assert "big" not in [m["merchant_id"] for m in top]
    assert [m["net_cents"] for m in top] == sorted((1_000 + i for i in range(10)), reverse=True)
