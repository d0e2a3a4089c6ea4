"""The alerts' adapter over a real view: a merchant that stops mid-load raises exactly one alert (silent)
within the window and clears when it resumes; a burst of junk raises the dead-letter alert; a channel and
its country that stop raise once the samples span the window, and clear when they resume."""

from __future__ import annotations

from typing import Any

import orjson

from app import alerts
from app.alert_watch import AlertWatch
from app.compare import Comparisons
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from tests.support.inprocess import app
from tests.support.orders import NOON, order_event

MIN = 60_000
LAST_YEAR = NOON - 364 * 86_400_000  # the same weekday: the default compare day
RULES = alerts.Thresholds(window_minutes=5, min_expected=20, below_fraction=0.2, dead_letters_jump=50,
                          data_age_s=1e9)


class _Shop:
    def __init__(self) -> None:
        self.state, self.view, self.offset = PartitionState(0, Rules()), SalesView(), 0
        self.watch = AlertWatch(self.view, Comparisons(self.view), RULES)

    def send(self, raws: list[bytes], now: int) -> None:
        for raw in raws:
            self.state.apply(self.offset, raw, now)
            self.offset += 1
        record = self.state.checkpoint(now)
        assert record is not None
        self.view.apply(record.encode())

    def sell(self, day_noon: int, first: int, last: int, per_minute: dict[str, int], now: int,
             **fields: Any) -> None:
        self.send([orjson.dumps(order_event(merchant_id=m, occurred_at=day_noon + minute * MIN + i, **fields))
                   for minute in range(first, last) for m, n in per_minute.items() for i in range(n)], now)

    def raised(self, now: int) -> list[tuple[str, str]]:
        return [(a.kind, a.subject) for a in self.watch.evaluate(now)]


def test_a_merchant_that_stops_raises_one_alert_and_clears_when_it_resumes_and_junk_raises_one() -> None:
    shop = _Shop()
    now = NOON + 30_000
    shop.sell(LAST_YEAR, -20, 10, {"m1": 10, "m2": 6}, now)
    shop.sell(NOON, -20, -5, {"m1": 10, "m2": 6}, now)  # today as last year, closing last year's day
    assert shop.view.close_days(1) == ["2025-11-28"]
    shop.sell(NOON, -5, 0, {"m2": 6}, now)  # m1 stops at 11:55
    assert shop.raised(now) == [("silent", "m1")]  # 50 expected, none came; m2's 30 came
    shop.sell(NOON, 0, 5, {"m1": 10, "m2": 6}, NOON + 5 * MIN)
    assert shop.raised(NOON + 5 * MIN + 30_000) == []  # back: cleared
    shop.send([b"not json"] * 60, NOON + 5 * MIN + 40_000)
    assert shop.raised(NOON + 5 * MIN + 45_000) == [("dead_letters", "all")]


def test_alerts_are_served_behind_the_token_and_in_metrics() -> None:
    with app([], token="t") as running:
        client = running.client
        assert client.get("/api/alerts").status_code == 401
        assert client.get("/api/alerts?token=t").json() == {"alerts": []}  # no checkpoint yet: no age
        assert "# TYPE salesdash_alerts gauge" in client.get("/metrics?token=t").text


def test_a_channel_and_its_country_that_stop_raise_once_the_samples_span_the_window_and_clear() -> None:
    shop = _Shop()
    online, mobile = {"channel": "online", "country": "DE"}, {"channel": "mobile", "country": "FR"}
    now = NOON - 10 * MIN + 30_000
    for day_noon, last in ((LAST_YEAR, 10), (NOON, -10)):
        for fields in (online, mobile):
            shop.sell(day_noon, -20, last, {"m1": 8}, now, **fields)
    assert shop.view.close_days(1) == ["2025-11-28"]
    assert shop.watch.evaluate(now) == []  # the first sample: nothing to judge channels by yet
    shop.sell(NOON, -10, -5, {"m1": 8}, NOON - 5 * MIN, **online)  # the mobile channel, all from FR, stops
    now = NOON - 5 * MIN + 30_000
    # Last year's 80 orders in 11:50-11:55, half of them mobile (and FR), at today's level (1): 40 expected.
    assert [(a.kind, a.scope, a.subject) for a in shop.watch.evaluate(now)] == [
        ("silent", "channel", "mobile"), ("silent", "country", "FR")]  # m1's 40 of 80 is not far below
    fresh = AlertWatch(shop.view, Comparisons(shop.view), RULES)
    assert fresh.evaluate(now) == []  # an app just started cannot tell yet, so says nothing
    for fields in (online, mobile):
        shop.sell(NOON, -5, 0, {"m1": 8}, NOON, **fields)
    assert shop.watch.evaluate(NOON + 30_000) == []  # back: cleared
