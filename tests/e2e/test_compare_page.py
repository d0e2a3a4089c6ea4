"""Compare with last year on the real stack, in Chromium: last year's same weekday (a backfill) is the
default choice for today's live orders; its minutes are drawn behind today's bars by time of day, and
the cumulative change through the current minute, and the end-of-day projection beside net sales, equal
the ones worked out here from the two ground-truth files. Choosing "none" takes it away, choosing the day
again brings it back."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from playwright.sync_api import Page

from stream.core.routing import partition_for
from tests.conftest import App, Processes, picture, wait_until
from tests.support.truth import tally
from tests.support.web import orders_now

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
MINUTE = 60_000
LINE = """() => { const d = document.getElementById('compare-line');
  return {hidden: d.hidden, text: d.textContent, ...d.dataset,
          select: document.getElementById('compare-day').value}; }"""
PROJECTION = """() => { const d = document.getElementById('projection-line');
  return {hidden: d.hidden, text: d.textContent, ...d.dataset}; }"""
TRACE = """() => { const node = document.getElementById('chart-minutes');
  const t = (node.data || []).find((t) => t.name === 'compare');
  return t ? {x: t.x, y: t.y, bars: node.data[0].type, on: [node.data[0].xaxis, t.xaxis || 'x']} : null; }"""


def away_from_midnight(margin_s: float = 150, since_s: float = 0) -> None:
    """Today's run must fit in today: wait out the last `margin_s` seconds before 00:00 UTC and, for a test
    whose orders reach `since_s` seconds back, the first `since_s` seconds after it."""
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    left = (midnight + timedelta(days=1) - now).total_seconds()
    if left < margin_s:
        time.sleep(left + 2)
        now, midnight = datetime.now(UTC), midnight + timedelta(days=1)
    passed = (now - midnight).total_seconds()
    if passed < since_s:
        time.sleep(since_s - passed + 2)


def tenths(now: int, then: int) -> int:
    """The change in tenths of a percent, half away from zero: worked out with exact fractions."""
    exact = Fraction(1000 * (now - then), then)
    rounded = int(abs(exact) + Fraction(1, 2))
    return rounded if exact >= 0 else -rounded


def percent(t: int) -> str:
    return ("+" if t > 0 else "-" if t < 0 else "±") + f"{abs(t) // 10}.{abs(t) % 10}%"


def dollars(cents: int) -> str:
    return f"${(cents + 50) // 100:,}"  # whole dollars, half up (the figures here are not negative)


def closers(env: dict[str, str]) -> list[dict[str, Any]]:
    """An order stamped now for a merchant of every partition: every partition's watermark passes the
    old day's close, so the app holds it as closed (a closed day is what the default picks)."""
    partitions = int(env["ORDERS_PARTITIONS"])
    homes = {partition_for(f"closer-{i}".encode(), partitions): f"closer-{i}" for i in range(200)}
    events = [orders_now(1, merchant_id=merchant)[0] for merchant in homes.values()]
    producer = Producer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "partitioner": "murmur2_random"})
    for event in events:
        producer.produce(env["ORDERS_TOPIC"], orjson.dumps(event), event["merchant_id"].encode(),
                         timestamp=event["occurred_at"])
    assert producer.flush(20) == 0
    return events


def test_today_is_compared_with_last_years_same_weekday_drawn_behind_and_to_the_tenth_of_a_percent(
    stack: App, processes: Processes, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    away_from_midnight()
    today = datetime.now(UTC).date()
    old = (today - timedelta(days=364)).isoformat()  # 52 weeks back: the same weekday
    old_start = int(datetime.fromisoformat(old).replace(tzinfo=UTC).timestamp() * 1000)
    today_start = int(datetime.combine(today, datetime.min.time(), UTC).timestamp() * 1000)
    backfill = processes.run("-m", "loadgen", "backfill", "--day", old, "--orders", "6000", "--seed", "4",
                             "--truth", str(tmp_path / "old.json"))
    assert backfill.returncode == 0, backfill.stderr
    live = processes.run("-m", "loadgen", "run", "--rate", "150", "--duration", "3", "--seed", "8",
                         "--truth", str(tmp_path / "today.json"))
    assert live.returncode == 0, live.stderr
    extra_totals, _ = tally(closers(processes.env))
    then = json.loads((tmp_path / "old.json").read_text())["days"][old]
    now_truth = json.loads((tmp_path / "today.json").read_text())["days"][today.isoformat()]["totals"]
    want_today = {k: now_truth[k] + extra_totals[k] for k in ("orders", "net_cents")}
    wait_until(lambda: (body := stack.get("/api/snapshot?compare=default").json())["compare"] and
               body["compare"]["day"] == old and body["totals"]["orders"] == want_today["orders"], 60,
               message="today counted and last year's day closed")

    tab.goto(stack.url)
    tab.wait_for_selector(f"#compare-line[data-day='{old}']", timeout=20_000)
    line = tab.evaluate(LINE)
    assert line["select"] == old and not line["hidden"]

    # Independently: both days through the minute the page compares at (now's), by time of day.
    minute = int(line["minute"])
    assert abs(today_start + minute * MINUTE - time.time() * 1000) < 2 * MINUTE
    through = [m for m in then["minutes"] if m["start_ms"] - old_start <= minute * MINUTE]
    old_net = sum(m["gross_cents"] - m["refunds_cents"] for m in through)
    old_orders = sum(m["orders"] for m in through)
    shown = (int(line["shownCents"]), int(line["shownOrders"]))
    assert shown == (want_today["net_cents"], want_today["orders"])
    assert (int(line["otherCents"]), int(line["otherOrders"])) == (old_net, old_orders)
    net, orders = tenths(want_today["net_cents"], old_net), tenths(want_today["orders"], old_orders)
    assert (int(line["netTenths"]), int(line["ordersTenths"])) == (net, orders)
    at = f"{minute // 60:02d}:{minute % 60:02d}"
    assert line["text"] == f"{percent(net)} against {old} at {at} · orders {percent(orders)}"

    # The projection beside net sales: today's net over the share of last year's net done by this minute.
    projection, whole = tab.evaluate(PROJECTION), then["totals"]["net_cents"]
    if 100 * old_net < whole:  # under 1% of last year's day done (just after midnight): nothing projected
        assert projection["hidden"]
    else:
        projected = int(Fraction(want_today["net_cents"] * whole, old_net) + Fraction(1, 2))
        low, high = int(projection["lowCents"]), int(projection["highCents"])
        assert int(projection["projectedCents"]) == projected and not projection["hidden"]
        assert want_today["net_cents"] <= low <= projected <= high
        assert projection["text"] == f"projected {dollars(projected)} (band {dollars(low)}–{dollars(high)})"

    # The overlay: every minute of last year's day, on today's clock, its net in dollars, behind the bars.
    trace = tab.evaluate(TRACE)
    assert trace is not None and trace["bars"] == "bar" and trace["on"] == ["x2", "x"]
    aligned = [datetime.fromtimestamp((today_start + m["start_ms"] - old_start) / 1000, UTC)
               .strftime("%Y-%m-%d %H:%M:%S") for m in then["minutes"]]
    assert trace["x"] == aligned
    assert trace["y"] == [(m["gross_cents"] - m["refunds_cents"]) / 100 for m in then["minutes"]]
    assert old in (tab.get_attribute("#channels li[data-channel]", "title") or "")
    tab.screenshot(path=str(picture("compare.png")))

    tab.select_option("#compare-day", "none")
    tab.wait_for_selector("#compare-line", state="hidden", timeout=10_000)
    wait_until(lambda: tab.evaluate(TRACE) is None, 10, message="the overlay gone")
    tab.select_option("#compare-day", old)
    tab.wait_for_selector(f"#compare-line[data-day='{old}']", timeout=10_000)
    wait_until(lambda: tab.evaluate(TRACE) is not None, 10, message="the overlay drawn again")
    assert "compare=" + old in tab.url
    assert errors == []
