"""Compare with another day, without a broker: the cumulative figures through a minute, the change, the
alignment by time of day (UTC, the same on a daylight-saving day), the default choice, and the comparison
as /api/snapshot and the websocket serve it — on checkpoints the real core makes. Expected figures are
worked out here from the test's own orders."""

from __future__ import annotations

import time
from datetime import datetime
from fractions import Fraction
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import WebSocketDenialResponse

from app.compare import Comparisons, change_tenths, comparison, percent, summary, through
from stream.core.salesview import SalesView
from tests.support.inprocess import app, checkpoints
from tests.support.orders import order_event

OLD, SHOWN = "2025-11-28", "2026-11-27"  # Black Friday 2025 and 2026, 364 days apart: both Fridays


def at(day: str, clock: str) -> int:
    return int(datetime.fromisoformat(f"{day}T{clock}+00:00").timestamp() * 1000)


# (time of day, cents, refund?) for each day; refunds net off the day's figures in their own minute
OLD_ORDERS = [("00:00:30", 1_000, False), ("09:59:59", 2_000, False), ("10:00:00", 4_000, False),
              ("14:05:59", 8_000, False), ("14:05:10", 500, True), ("14:06:00", 16_000, False),
              ("23:59:59", 32_000, False)]
SHOWN_ORDERS = [("00:01:00", 3_000, False), ("14:05:00", 5_000, False), ("14:07:00", 7_000, False)]


def events(day: str, orders: list[tuple[str, int, bool]], merchant: str = "m00001") -> list[dict[str, Any]]:
    return [order_event(event_id=f"{day}-{merchant}-{i}", merchant_id=merchant, occurred_at=at(day, clock),
                        total_minor=cents,
                        type="order_refunded" if refund else "order_placed",
                        lines=[{"sku": "s", "title": "t", "qty": 1, "price_minor": cents}])
            for i, (clock, cents, refund) in enumerate(orders)]


def expected(orders: list[tuple[str, int, bool]], through_clock: str) -> dict[str, int]:
    """Orders and net of the day's orders up to the end of the minute `through_clock` (HH:MM)."""
    chosen = [(cents, refund) for clock, cents, refund in orders if clock[:5] <= through_clock]
    return {"orders": sum(1 for _, refund in chosen if not refund),
            "net_cents": sum(-cents if refund else cents for cents, refund in chosen)}


def view_of(*days: tuple[str, list[tuple[str, int, bool]]]) -> SalesView:
    """The app's view of the days' orders, one partition, counted by the real core; the older days are
    closed by the newer ones' watermark."""
    view = SalesView()
    now = int(time.time() * 1000)
    for raw in checkpoints([e for day, orders in days for e in events(day, orders)], now):
        view.apply(raw)
    view.close_days(1)
    return view


def tenths(now: int, then: int) -> int:
    exact = Fraction(1000 * (now - then), then)
    rounded = int(abs(exact) + Fraction(1, 2))  # half away from zero
    return rounded if exact >= 0 else -rounded


@pytest.mark.parametrize("clock", ["00:00", "09:59", "10:00", "14:05", "14:06", "23:59"])
def test_the_other_day_through_a_minute_is_everything_up_to_that_minutes_end(clock: str) -> None:
    view = view_of((OLD, OLD_ORDERS), (SHOWN, SHOWN_ORDERS))
    assert OLD in view.closed_days
    body = summary(view.snapshot(OLD), closed=True)
    minute = int(clock[:2]) * 60 + int(clock[3:])
    assert through(body, minute) == expected(OLD_ORDERS, clock)


def test_the_days_are_aligned_by_time_of_day_and_the_change_is_to_the_tenth_of_a_percent() -> None:
    view = view_of((OLD, OLD_ORDERS), (SHOWN, SHOWN_ORDERS))
    body = summary(view.snapshot(OLD), closed=True)
    result = comparison(view.snapshot(SHOWN), body, 14 * 60 + 5)
    mine, theirs = expected(SHOWN_ORDERS, "14:05"), expected(OLD_ORDERS, "14:05")
    assert mine == {"orders": 2, "net_cents": 8_000} and theirs == {"orders": 4, "net_cents": 14_500}
    assert (result["shown"], result["other"]) == (mine, theirs)
    assert result["net_tenths"] == tenths(8_000, 14_500) == -448  # -44.827...%
    assert result["orders_tenths"] == tenths(2, 4) == -500
    assert result["text"] == f"-44.8% against {OLD} at 14:05"
    # Each minute keeps its time of day: 14:05 on the other day is 14:05 on the shown one.
    assert [m["start_ms"] - body["start_ms"] for m in body["minutes"]] == sorted(
        {at(OLD, clock) // 60_000 * 60_000 - at(OLD, "00:00:00") for clock, _, _ in OLD_ORDERS})


def test_a_daylight_saving_day_has_1440_utc_minutes_like_any_other() -> None:
    # Europe moved its clocks at 01:00 UTC on both Sundays: UTC minutes do not move with them.
    old, shown = "2025-03-30", "2026-03-29"
    orders = [("00:59:59", 100, False), ("01:00:00", 200, False), ("01:30:00", 400, False),
              ("23:59:59", 800, False)]
    view = view_of((old, orders), (shown, orders), ("2026-04-02", [("12:00:00", 1, False)]))
    body = summary(view.snapshot(old), closed=True)
    for clock in ("00:59", "01:00", "01:30", "23:59"):
        minute = int(clock[:2]) * 60 + int(clock[3:])
        result = comparison(view.snapshot(shown), body, minute)
        assert result["shown"] == result["other"] == expected(orders, clock), clock
        assert result["net_tenths"] == 0 and result["text"] == f"±0.0% against {old} at {clock}"


@given(st.integers(-10**13, 10**13), st.integers(1, 10**13))
def test_the_change_rounds_half_away_from_zero_in_exact_integers(now: int, then: int) -> None:
    assert change_tenths(now, then) == tenths(now, then)


def test_the_change_reads_as_a_signed_percentage_and_nothing_to_compare_with_is_a_dash() -> None:
    assert [percent(t) for t in (123, -40, 0, 5, None)] == ["+12.3%", "-4.0%", "±0.0%", "+0.5%", "–"]
    assert change_tenths(100, 0) is None and change_tenths(0, 0) is None
    assert change_tenths(10_005, 10_000) == 1 and change_tenths(9_995, 10_000) == -1  # exactly half


def test_the_default_is_the_closed_same_weekday_before_with_the_most_orders_the_newest_of_equals() -> None:
    fridays = [("2024-11-29", 3), ("2025-11-21", 2), ("2025-11-28", 3)]
    other = [("2025-11-27", 9)]  # a Thursday with more orders: another weekday
    days = [(d, [(f"12:00:{i:02d}", 100, False) for i in range(n)]) for d, n in sorted(fridays + other)]
    view = view_of(*days, (SHOWN, SHOWN_ORDERS), ("2026-11-30", [("12:00:00", 1, False)]))
    comparisons = Comparisons(view)
    assert comparisons.default(SHOWN) == "2025-11-28"  # 3 orders like 2024-11-29, and newer
    assert comparisons.default("2025-11-28") == "2024-11-29"  # only days before the shown one
    assert comparisons.default("2026-12-01") is None  # no closed Tuesday
    assert comparisons.default("2026-12-04") == SHOWN  # 3 orders too, and closed by Monday's order


def records() -> list[bytes]:
    now = int(time.time() * 1000)
    return checkpoints(events(OLD, OLD_ORDERS) + events(SHOWN, SHOWN_ORDERS), now)


def test_the_snapshot_with_compare_carries_the_other_day_and_the_change_over_the_whole_shown_day() -> None:
    with app(records()) as running:
        client = running.client
        body = client.get("/api/snapshot", params={"day": SHOWN, "compare": "default"}).json()
        none = client.get("/api/snapshot", params={"day": SHOWN, "compare": "none"}).json()
        plain = client.get("/api/snapshot", params={"day": SHOWN}).json()
        bad = client.get("/api/snapshot", params={"day": SHOWN, "compare": "28.11.2025"})
    assert body["compare"]["day"] == OLD and body["compare"]["closed"] is True
    assert body["compare"]["totals"] == expected(OLD_ORDERS, "23:59")
    # The shown day is over: compared through its last minute.
    assert body["comparison"]["at"] == "23:59"
    assert body["comparison"]["shown"] == expected(SHOWN_ORDERS, "23:59")
    assert body["comparison"]["net_tenths"] == tenths(15_000, 62_500)
    assert none["compare"] is None and none["comparison"] is None
    assert "compare" not in plain  # unasked, the snapshot is as it always was
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]


def test_a_viewer_that_chooses_gets_the_compare_message_after_each_snapshot_and_when_it_chooses() -> None:
    with app(records()) as running:
        client = running.client
        with client.websocket_connect(f"/ws?day={SHOWN}&compare=default") as ws:
            assert orjson.loads(ws.receive_text())["type"] == "snapshot"
            first = orjson.loads(ws.receive_text())
            assert first["type"] == "compare" and first["compare"]["day"] == OLD
            assert first["compare"]["minutes"][0]["net_cents"] == 1_000
            ws.send_text(orjson.dumps({"type": "compare", "day": None}).decode())
            chosen = orjson.loads(ws.receive_text())
            assert (chosen["type"], chosen["compare"]) == ("compare", None)
            ws.send_text('{"type": "compare", "day": "28.11.2025"}')  # not a day: ignored
            ws.send_text('{"type": "resync"}')
            assert orjson.loads(ws.receive_text())["type"] == "snapshot"
            assert orjson.loads(ws.receive_text())["compare"] is None  # the choice stands: none
            ws.send_text(orjson.dumps({"type": "compare", "day": OLD}).decode())
            assert orjson.loads(ws.receive_text())["compare"]["day"] == OLD
        with pytest.raises(WebSocketDenialResponse) as refused, \
                client.websocket_connect("/ws?compare=last-year"):
            pass
    assert refused.value.status_code == 400


def test_a_compare_object_is_made_once_and_shared_by_every_viewer() -> None:
    view = view_of((OLD, OLD_ORDERS), (SHOWN, SHOWN_ORDERS))
    comparisons = Comparisons(view)
    first, again = comparisons.frame(OLD), comparisons.frame(OLD)
    assert first is again  # one encoding for every viewer of that day
    assert orjson.loads(first)["compare"] == summary(view.snapshot(OLD), closed=True)
