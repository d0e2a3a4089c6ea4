"""The audit's verdict (stream/audit/verdict.py): the dashboard's day against the recount, pure."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from stream.audit.recount import DayRecount, recount
from stream.audit.verdict import compare, usd
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.stream.audit.test_recount import DAY, MINUTE, Log, N, home
from tests.support.orders import NOON, order_event

NOW = NOON + 86_400_000


def dashboard(log: Log) -> dict[str, Any]:
    """What the app shows for the day: the live core's checkpoints folded by the app's view."""
    view = SalesView()
    states: dict[int, PartitionState] = {}
    for record in log.records:
        state = states.setdefault(record.partition, PartitionState(record.partition, Rules()))
        state.apply(record.offset, record.value, NOW)
        checkpoint = state.checkpoint(NOW)
        if checkpoint is not None:
            view.apply(checkpoint.encode())
    for state in states.values():  # an idle partition's last sketch goes out once it is due
        flushed = state.checkpoint(NOW + Rules().sketch_every_ms, force=True)
        if flushed is not None:
            view.apply(flushed.encode())
    return orjson.loads(orjson.dumps(view.snapshot(DAY)))


def three_minutes() -> Log:
    log = Log()
    log.orders(order_event(occurred_at=NOON, total_minor=2500, customer_id="a"),
               order_event(occurred_at=NOON + MINUTE, total_minor=1000, customer_id="b"),
               order_event(occurred_at=NOON + 2 * MINUTE, type="order_refunded", total_minor=500))
    return log


def test_an_equal_day_verifies() -> None:
    log = three_minutes()
    verdict = compare(dashboard(log), log.recount(), day_closed=True)
    p = home("m00001")
    assert verdict.ok
    assert verdict.differences == []
    assert verdict.line == (f"verified: 3 minutes, 2 orders, $30.00, equal to the cent (offsets {p}:0-2); "
                            "unique shoppers 2 shown, 2 exact (+0.00%, within the sketch's error)")
    report = orjson.loads(orjson.dumps(verdict.to_json()))
    assert report["ok"] is True and report["recount"]["totals"]["net_cents"] == 3000


def test_one_minute_off_by_a_cent_is_that_minute_with_both_values() -> None:
    log = three_minutes()
    shown = dashboard(log)
    assert shown["minutes"][0]["final"]  # the watermark is two minutes on
    shown["minutes"][0]["gross_cents"] += 1
    verdict = compare(shown, log.recount(), day_closed=True)
    assert not verdict.ok
    assert [(d.what, d.key, d.shown, d.recounted) for d in verdict.differences] == [
        ("minute", "2026-11-27T12:00Z", {"orders": 1, "gross_cents": 2501, "refunds_cents": 0},
         {"orders": 1, "gross_cents": 2500, "refunds_cents": 0})]
    assert verdict.line.startswith(
        "differs: minute 2026-11-27T12:00Z: gross_cents $25.01 shown, $25.00 recounted (likely: unknown); ")


def test_an_unchecked_cause_is_not_named_even_where_a_borderline_rule_applied() -> None:
    # Issue 18: a dashboard that differs in a minute with a resent copy and an open day was told
    # "likely: the day is still open"; the worker and the recount apply one rule, so nothing is known.
    log = Log()
    first = order_event(event_id="evt-resent", occurred_at=NOON, total_minor=100)
    log.orders(first, order_event(occurred_at=NOON + 16 * MINUTE, total_minor=200))
    shown = dashboard(log)
    log.orders(first)
    result = log.recount()
    assert [e["event_id"] for e in result.resent_after_horizon] == ["evt-resent"]
    shown["offsets"] = {str(home("m00001")): 3}  # it has read every record the recount read
    verdict = compare(shown, result, day_closed=False)
    (minute,) = [d for d in verdict.differences if d.what == "minute"]
    assert minute.reasons == []
    assert "(likely: unknown)" in verdict.line and verdict.line.endswith("; the day is still open")


def test_a_dashboard_behind_the_recount_is_the_checked_cause() -> None:
    log = three_minutes()
    shown = dashboard(log)
    shown["minutes"][2]["refunds_cents"] = 0
    shown["minutes"][2]["final"] = False
    shown["offsets"] = {str(home("m00001")): 2}
    verdict = compare(shown, log.recount(), day_closed=False)
    (minute,) = [d for d in verdict.differences if d.what == "minute"]
    assert minute.reasons == [
        "the minute is not final on the dashboard yet",
        f"the dashboard has partition {home('m00001')} up to offset 2, the recount 3"]


def test_a_minute_not_final_is_no_cause_when_the_dashboard_has_every_record() -> None:
    log = three_minutes()
    shown = dashboard(log)
    shown["minutes"][2]["refunds_cents"] = 0
    shown["minutes"][2]["final"] = False
    shown["offsets"] = {str(home("m00001")): 3}
    (minute,) = [d for d in compare(shown, log.recount(), day_closed=False).differences if d.what == "minute"]
    assert minute.reasons == []


def test_breakdowns_and_top_lists_are_compared_row_by_row() -> None:
    log = three_minutes()
    shown = dashboard(log)
    changed = copy.deepcopy(shown)
    changed["countries"][0]["net_cents"] -= 5
    changed["top_merchants"][0]["name"] = "Someone else"
    changed["top_products"] = []
    verdict = compare(changed, log.recount(), day_closed=True)
    assert [(d.what, d.key) for d in verdict.differences] == [
        ("countries", "US"), ("top_merchants", "#1"), ("top_products", "#1")]
    assert ("top_products #1: nothing shown, [sku 'm00001-p001', title 'Mug 1', merchant_id 'm00001', "
            "qty 1, net_cents $25.00] recounted (likely: unknown)") in verdict.line


def test_totals_that_differ_are_reported_by_field() -> None:
    log = three_minutes()
    shown = dashboard(log)
    shown["totals"]["orders"] = 3
    verdict = compare(shown, log.recount(), day_closed=True)
    assert [(d.what, d.key, d.shown, d.recounted) for d in verdict.differences] == [
        ("totals", "orders", 3, 2)]
    assert verdict.line.startswith("differs: totals: orders 3 shown, 2 recounted (likely: unknown)")


def with_uniques(shown: int, exact: int) -> tuple[dict[str, Any], DayRecount]:
    log = Log()
    log.orders(*(order_event(customer_id=f"c{i}", total_minor=1) for i in range(exact)))
    snapshot = dashboard(log)
    snapshot["totals"]["unique_customers"] = shown
    return snapshot, log.recount()


def test_unique_shoppers_within_the_sketchs_error() -> None:
    verdict = compare(*with_uniques(1030, 1000), day_closed=True)
    assert verdict.ok
    assert verdict.unique_customers["within"] is True
    assert verdict.line.endswith(
        "unique shoppers 1,030 shown, 1,000 exact (+3.00%, within the sketch's error)")


def test_unique_shoppers_outside_the_sketchs_error_are_reported_not_failed() -> None:
    verdict = compare(*with_uniques(949, 1000), day_closed=True)
    assert verdict.ok
    assert verdict.unique_customers == {"shown": 949, "exact": 1000, "error": -0.051, "sigma": 0.016,
                                        "within": False, "text": verdict.unique_customers["text"]}
    assert verdict.line.endswith("unique shoppers 949 shown, 1,000 exact (-5.10%, outside the sketch's error "
                                 "(3σ = 4.8%))")


def test_money_reads_as_dollars() -> None:
    assert [usd(c) for c in (0, 5, 12345678901, -250)] == ["$0.00", "$0.05", "$123,456,789.01", "-$2.50"]


def test_a_day_read_from_nothing_and_shown_empty_verifies() -> None:
    empty = {"totals": {"orders": 0, "gross_cents": 0, "refunds_cents": 0, "net_cents": 0,
                        "unique_customers": 0}, "minutes": []}
    verdict = compare(empty, recount([], DAY, N), day_closed=False)
    assert verdict.ok
    assert verdict.line == ("verified: 0 minutes, 0 orders, $0.00, equal to the cent (offsets none); "
                            "unique shoppers 0 shown, 0 exact (+0.00%, within the sketch's error); "
                            "the day is still open")
