"""The alerts' adapter: every few seconds, the view's figures through the pure evaluator (app.alerts).

Merchants: a merchant's orders in the last `window_minutes` whole minutes today against the compare day's
(the default compare day: last year's same weekday) in the same minutes of its day, scaled to today's
level. Channels and countries, kept only as day totals: today's orders by channel and by country are
sampled at each evaluation, and the growth since the sample one window ago is judged against the compare
day's orders in the same minutes times that channel's (country's) share of the compare day's orders,
scaled to today's level. Judged only once the samples span the window (a fresh app raises none); sampled
at evaluations, so it lags by up to one evaluation, and a late order for a past minute counts in the
minute it arrived. Dead letters over the same window; data age.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from app import alerts
from app.compare import Comparisons
from stream.core.eventtime import MINUTE_MS, day_of, parse_day
from stream.core.salesview import SalesView

log = logging.getLogger("salesdash.alerts")
EVERY_S = 5.0
MIXES = {"channel": "channels", "country": "countries"}  # scope: the snapshot's day breakdown
Mix = dict[str, dict[str, int]]  # scope: subject: today's orders so far
# Told (before, after) when the alerts change; must not block (app.webhook only queues).
Listener = Callable[[list[alerts.Alert], list[alerts.Alert]], None]


class AlertWatch:
    def __init__(self, view: SalesView, comparisons: Comparisons, thresholds: alerts.Thresholds,
                 listeners: Iterable[Listener] = ()) -> None:
        self.view = view
        self.comparisons = comparisons
        self.thresholds = thresholds
        self.listeners = list(listeners)
        self.current: list[alerts.Alert] = []
        self._dead: deque[tuple[int, int]] = deque()  # (ms, today's dead letters) samples over the window
        self._mix: deque[tuple[int, str, Mix]] = deque()  # (ms, day, today's orders by scope) samples

    def evaluate(self, now_ms: int) -> list[alerts.Alert]:
        rules = self.thresholds
        window_ms = rules.window_minutes * MINUTE_MS
        end = now_ms - now_ms % MINUTE_MS  # the current minute is still filling: whole minutes only
        today = day_of(now_ms)
        found: list[alerts.Alert] = []
        shown = self.view.snapshot(today)
        sampled = self._sample(now_ms, today, shown, window_ms)
        compare = self.comparisons.default(today)
        if compare is not None:
            shift = parse_day(today)[0] - parse_day(compare)[0]
            actual, today_before = self.view.merchant_orders(today, range(end - window_ms, end, MINUTE_MS))
            expected, compare_before = self.view.merchant_orders(
                compare, range(end - window_ms - shift, end - shift, MINUTE_MS))
            scale = alerts.level(today_before, compare_before)
            found += alerts.rates("merchant", actual, expected, scale, rules)
            if sampled is not None:
                compare_day = self.view.snapshot(compare)
                for scope in MIXES:
                    found += alerts.mix(scope, sampled[0][scope], sampled[1][scope], sum(expected.values()),
                                        _orders(compare_day, scope), scale, rules)
        dead = sum(shown["dead_letters"].values())
        self._dead.append((now_ms, dead))
        while self._dead[0][0] < now_ms - window_ms:
            self._dead.popleft()
        found += alerts.dead_letters(max(0, dead - self._dead[0][1]), rules)
        as_of = self.view.as_of_ms
        found += alerts.data_age((now_ms - as_of) / 1000 if as_of else None, rules)
        self.current = sorted(found)
        return self.current

    def _sample(self, now_ms: int, today: str, shown: dict[str, Any],
                window_ms: int) -> tuple[Mix, Mix] | None:
        """Today's orders by channel and country, sampled: the sample one window ago and now's, once the
        samples span the window."""
        if self._mix and self._mix[-1][1] != today:
            self._mix.clear()  # a new day's totals start again from nothing
        self._mix.append((now_ms, today, {scope: _orders(shown, scope) for scope in MIXES}))
        while len(self._mix) > 1 and self._mix[1][0] <= now_ms - window_ms:
            self._mix.popleft()  # keep the newest sample at or before the window's start
        first_ms, _, first = self._mix[0]
        return (first, self._mix[-1][2]) if first_ms <= now_ms - window_ms else None

    async def run(self, every_s: float = EVERY_S) -> None:
        while True:
            before = self.current
            after = self.evaluate(int(time.time() * 1000))
            if after != before:
                for listener in self.listeners:
                    try:
                        listener(before, after)
                    except Exception:  # one listener's bug must not stop the alerts or the others
                        log.exception("alert listener %r failed", listener)
            await asyncio.sleep(every_s)


def _orders(snapshot: dict[str, Any], scope: str) -> dict[str, int]:
    return {row[scope]: int(row["orders"]) for row in snapshot[MIXES[scope]]}
