"""The end-of-day projection in /api/snapshot?compare=, in process on checkpoints the real core makes:
today's net so far over the share of the compare day's net done by the current minute."""

from __future__ import annotations

import time
from datetime import date, timedelta
from fractions import Fraction

from stream.core.eventtime import day_of
from tests.app.test_compare import events
from tests.support.inprocess import app, checkpoints

SOLD = 1_000  # cents the compare day sells at half past each hour
TODAY_ORDERS = [("00:00:00", 40_000, False), ("00:00:10", 2_500, False), ("00:00:20", 500, True)]
SO_FAR = 40_000 + 2_500 - 500


def _get(client: object, params: dict[str, str]) -> tuple[dict[str, object], int]:
    """The snapshot and the minute of the day it was asked at (asked again if a minute turned meanwhile)."""
    while True:
        before = int(time.time() * 1000) // 60_000 % 1440
        body = client.get("/api/snapshot", params=params).json()  # type: ignore[attr-defined]
        if int(time.time() * 1000) // 60_000 % 1440 == before:
            return body, before


def test_the_snapshot_projects_today_from_the_compare_days_share_done_by_now() -> None:
    now = int(time.time() * 1000)
    today = day_of(now)
    old = (date.fromisoformat(today) - timedelta(days=364)).isoformat()  # the same weekday last year
    old_orders = [(f"{hour:02d}:30:00", SOLD, False) for hour in range(24)]
    with app(checkpoints(events(old, old_orders) + events(today, TODAY_ORDERS), now)) as running:
        body, minute = _get(running.client, {"day": today, "compare": old})
        none, _ = _get(running.client, {"day": today, "compare": "none"})
    comparison = body["comparison"]
    assert isinstance(comparison, dict) and comparison["minute_of_day"] == minute
    done_hours = (minute + 30) // 60  # hours whose half past is through the end of this minute
    projection = comparison["projection"]
    if done_hours == 0:  # before 00:30 the compare day has sold nothing: nothing to project from
        assert projection is None
        return
    exact = Fraction(SO_FAR * 24, done_hours)  # so_far / (done_hours / 24)
    assert projection["so_far_cents"] == SO_FAR
    assert projection["projected_cents"] == int(exact + Fraction(1, 2))
    assert projection["share_ppm"] == 1_000_000 * done_hours // 24
    assert SO_FAR <= projection["low_cents"] <= projection["projected_cents"] <= projection["high_cents"]
    if done_hours < 24:  # m = √(s(1 - s))/20 either side of today's share done, m·whole up to a cent
        s, cent = done_hours / 24, 1 / (24 * SOLD)
        m = (s * (1 - s)) ** 0.5 / 20
        assert SO_FAR / (s + m + cent) - 1 <= projection["low_cents"] <= SO_FAR / (s + m)
        assert SO_FAR / (s - m) <= projection["high_cents"] <= SO_FAR / (s - m - cent) + 1
    assert none["comparison"] is None  # no compare day, no projection
