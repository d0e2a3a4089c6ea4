"""The traffic model: valid, deterministic, and shaped like real shop traffic."""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

import orjson
import pytest

from loadgen.catalog import CURRENCY_OF, Catalog
from loadgen.model import Model
from stream.core.order import parse_order

NOON = 1_795_780_800_000  # 2026-11-27T12:00:00Z


def make(count: int, seed: int = 1, merchants: int = 2000, run_tag: str = "") -> list[dict[str, Any]]:
    model = Model(Catalog(seed, merchants), seed, run_tag)
    return [orjson.loads(value) for value, _, _ in model.events([NOON + i for i in range(count)])]


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return make(30_000)


@pytest.mark.parametrize(("seed", "merchants"), [(1, 2000), (7, 1), (42, 5000)])
def test_every_event_is_valid_and_carries_its_own_usd_value(seed: int, merchants: int) -> None:
    model = Model(Catalog(seed, merchants), seed)
    details: list[tuple[int, bool]] = []
    sent = model.events([NOON + i for i in range(5000)], details)
    for (value, key, occurred_at), (cents, refund) in zip(sent, details, strict=True):
        order = parse_order(value, NOON, 300_000)
        assert (order.usd_cents, order.is_refund) == (cents, refund)
        assert key == order.merchant_id.encode()  # keyed by merchant, as the README says
        assert occurred_at == order.occurred_at


def test_the_same_seed_makes_the_same_events_and_another_seed_others() -> None:
    assert make(2000, seed=3) == make(2000, seed=3)
    assert make(2000, seed=3) != make(2000, seed=4)


def test_runs_with_another_tag_share_the_traffic_but_never_an_id() -> None:
    first, second = make(2000, run_tag="a"), make(2000, run_tag="b")
    assert [e["total_minor"] for e in first] == [e["total_minor"] for e in second]
    assert not {e["event_id"] for e in first} & {e["event_id"] for e in second}


def test_event_ids_are_unique(events: list[dict[str, Any]]) -> None:
    assert len({e["event_id"] for e in events}) == len(events)


def test_a_few_merchants_take_most_orders(events: list[dict[str, Any]]) -> None:
    by_merchant = Counter(e["merchant_id"] for e in events)
    ranked = [n for _, n in by_merchant.most_common()]
    assert len(ranked) > 1000  # thousands of merchants actually sell
    assert sum(ranked[:20]) > 0.4 * len(events)  # 1% of merchants, 40%+ of orders
    assert ranked[0] > 100 * statistics.median(ranked)


def test_merchant_names_are_messy_and_survive_json(events: list[dict[str, Any]]) -> None:
    names = {e["merchant_name"] for e in events}
    assert "<b>Bold</b> Deals" in names
    assert 'The "Best" Buy' in names
    assert any(not name.isascii() for name in names)
    assert any("'" in name for name in names)
    assert len(names) > 1000


def test_buyers_pay_in_their_own_currency_and_big_markets_dominate(events: list[dict[str, Any]]) -> None:
    assert all(e["currency"] == CURRENCY_OF[e["country"]] for e in events)
    countries = Counter(e["country"] for e in events)
    assert countries.most_common(1)[0][0] == "US"
    assert {"JP", "KW", "GB", "DE"} <= set(countries)
    channels = Counter(e["channel"] for e in events)
    assert channels["online"] > channels["mobile"] > channels["pos"] > 0 and channels["social"] > 0


def test_baskets_are_mostly_small_with_a_long_tail(events: list[dict[str, Any]]) -> None:
    sizes = Counter(len(e["lines"]) for e in events if e["type"] == "order_placed")
    assert sizes.most_common(1)[0][0] == 1
    assert 1.3 < statistics.mean(sizes.elements()) < 2.5
    assert max(sizes) >= 5


def test_merchants_sell_many_products_and_totals_add_up(events: list[dict[str, Any]]) -> None:
    skus = {line["sku"] for e in events for line in e["lines"] if e["merchant_id"] == "m00000"}
    assert len(skus) >= 3
    for e in events:
        assert e["total_minor"] == sum(line["qty"] * line["price_minor"] for line in e["lines"])


def test_some_customers_come_back(events: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    returning = 0
    for e in events:
        returning += e["customer_id"] in seen
        seen.add(e["customer_id"])
    assert 0.1 < returning / len(events) < 0.9


def test_refunds_are_rare_and_refund_an_earlier_order_once(events: list[dict[str, Any]]) -> None:
    placed: dict[str, dict[str, Any]] = {}
    refunded: set[str] = set()
    for e in events:
        if e["type"] == "order_placed":
            placed[e["order_id"]] = e
            continue
        original = placed[e["order_id"]]  # placed before, in this stream
        assert e["order_id"] not in refunded
        refunded.add(e["order_id"])
        assert e["merchant_id"] == original["merchant_id"] and e["customer_id"] == original["customer_id"]
        assert 0 < e["total_minor"] <= original["total_minor"]
    assert 0.015 < len(refunded) / len(events) < 0.025


def test_a_flash_sale_sends_its_share_of_orders_to_one_merchant() -> None:
    model = Model(Catalog(1, 2000), 1)
    model.focus((300, 0.5))
    sent = model.events([NOON] * 4000)
    share = sum(key == b"m00300" for _, key, _ in sent) / len(sent)
    assert 0.45 < share < 0.55
    model.focus(None)
    assert sum(key == b"m00300" for _, key, _ in model.events([NOON] * 4000)) < 40
