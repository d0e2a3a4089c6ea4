"""A merchant's private link in a real Chromium against the real stack: the page shows exactly that
merchant's truth (computed from the orders sent): its totals, its per-second chart, and the compare with
last year's same weekday from its own orders of that day; the link opens no other route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from stream.core.eventtime import DAY_MS, MINUTE_MS
from tests.conftest import App, Processes, picture, start_stack, wait_until
from tests.e2e.test_compare_page import away_from_midnight, closers
from tests.support.truth import tally, usd_cents
from tests.support.web import orders_now, produce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
TOKEN = "merchant-test-token"

SHOWN = """() => ({
  orders: Number(document.querySelector('#orders').dataset.value),
  net_cents: Number(document.querySelector('#net-sales').dataset.cents),
  merchants: Array.from(document.querySelectorAll('#top-merchants tr[data-merchant-id]'))
    .map((tr) => tr.dataset.merchantId),
  products: Array.from(document.querySelectorAll('#top-products tr[data-sku]')).map((tr) => tr.dataset.sku),
  label: document.querySelector('#net-sales-label').textContent,
  compare: {...document.querySelector('#compare-line').dataset},
  picker: document.querySelector('#compare-pick').hidden,
  seconds_cents: Math.round((document.querySelector('#chart-seconds').data || [{y: []}])[0].y
    .reduce((a, b) => a + b, 0) * 100),
})"""


def last_year(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same orders 364 days back (the same weekday) at times of day around now's: some before the
    minute the page compares at, one after it (unless that is past midnight)."""
    shifted = []
    for i, event in enumerate(events):
        then = event["occurred_at"] - 364 * DAY_MS
        at = then + (i % 7 - 4) * 7 * MINUTE_MS  # -28 .. +14 minutes from now's time of day
        if at // DAY_MS == then // DAY_MS:
            shifted.append({**event, "event_id": f"{event['event_id']}-old", "occurred_at": at,
                            "order_id": f"{event['order_id']}-old",
                            "total_minor": event["total_minor"] + 3 * i})  # last year's own amounts
    return shifted


def test_a_merchant_link_shows_exactly_that_merchants_truth_and_nothing_else(
    env: dict[str, str], processes: Processes, page: tuple[Page, list[str]]
) -> None:
    env["SALESDASH_TOKEN"] = TOKEN
    away_from_midnight()
    app: App = start_stack(processes)
    events = orders_now(60, spread_ms=500)  # five merchants, m00000 .. m00004
    for event in events:
        event["lines"] = [{"sku": f"{event['merchant_id']}-sku", "title": "Mug", "qty": 1,
                           "price_minor": event["total_minor"]}]
    old = last_year(events)
    produce(env, old)  # first: last year's day is still open when its orders come
    produce(env, events)
    closers(env)  # every partition past last year's day: it closes and becomes the compare day
    mine = [e for e in events if e["merchant_id"] == "m00002"]
    truth, minutes = tally(mine)
    old_day = datetime.fromtimestamp(old[0]["occurred_at"] / 1000, UTC).date().isoformat()
    asked = f"/api/snapshot?merchant=m00002&token={TOKEN}"
    wait_until(lambda: (app.get(asked).json().get("compare") or {}).get("day") == old_day, 60,
               message="last year's day closed: the merchant's compare day")
    made = processes.run("-m", "app", "link", "--merchant", "m00002", "--hours", "1", "--base", app.url)
    assert made.returncode == 0, made.stderr
    link = made.stdout.strip()
    query = urlsplit(link).query

    tab, errors = page
    response = tab.goto(link)
    assert response is not None and response.status == 200
    tab.wait_for_selector("#conn[data-state=live]", timeout=20_000)
    shown = wait_until(lambda: (s := tab.evaluate(SHOWN))["net_cents"] == truth["net_cents"] and s, 30,
                       message="the merchant's net sales on the page")
    assert shown["orders"] == truth["orders"]
    # Its orders span 30 s, all within the per-second chart's 15 minutes: the seconds add up to its day.
    wait_until(lambda: tab.evaluate(SHOWN)["seconds_cents"] == truth["net_cents"], 10,
               message="the merchant's per-second chart")
    assert shown["merchants"] == ["m00002"] and shown["products"] == ["m00002-sku"]
    assert shown["label"] == "Net sales · Shop 2"
    # Last year's same weekday, from its own orders of that day through the minute compared at.
    compared = shown["compare"]
    assert compared["day"] == old_day and shown["picker"] is True  # the server chose: no choice shown
    start = datetime.fromisoformat(old_day).replace(tzinfo=UTC).timestamp() * 1000
    through = [e for e in old if e["merchant_id"] == "m00002"
               and (e["occurred_at"] - start) // MINUTE_MS <= int(compared["minute"])]
    assert 0 < len(through) < len([e for e in old if e["merchant_id"] == "m00002"])
    assert int(compared["otherCents"]) == sum(usd_cents(e["total_minor"], e["currency"]) for e in through)
    assert int(compared["otherOrders"]) == len(through)
    assert int(compared["shownCents"]) == truth["net_cents"]
    assert int(compared["shownOrders"]) == truth["orders"]
    # Explain this number: a click on a minute shows that minute's own orders, from the checkpoints.
    tab.locator("#chart-minutes g.point path").first.click(force=True)
    tab.wait_for_selector("#explain[data-orders]", timeout=10_000)
    clicked = tab.get_attribute("#explain", "data-minute") or ""
    day_ms = mine[0]["occurred_at"] - mine[0]["occurred_at"] % 86_400_000
    start = day_ms + int(clicked[:2]) * 3_600_000 + int(clicked[3:]) * 60_000
    assert int(tab.get_attribute("#explain", "data-orders") or "-1") == minutes[start][0]
    tab.screenshot(path=str(picture("merchant.png")))
    assert errors == []

    # The same link, anywhere else: refused, in the browser as over HTTP.
    unsigned = query.replace("merchant=m00002&", "")  # the global figures: the link names no merchant
    for path, status in ((f"/m/m00001?{query}", 403), (f"/?{query}", 401), (f"/api/days?{query}", 401),
                         (f"/metrics?{query}", 401), (f"/api/snapshot?{unsigned}", 401)):
        refused = tab.goto(app.url + path)
        assert refused is not None and refused.status == status, path
    expired = link.replace(query.split("exp=")[1].split("&")[0], "1000")
    refused = tab.goto(expired)
    assert refused is not None and refused.status == 401
