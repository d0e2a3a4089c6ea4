"""The page in a real headless Chromium against the real stack: live counter, exact totals and breakdowns,
names shown as text, reconnect and resync after an app restart."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.conftest import ARTIFACTS, App, Processes, settled, wait_until
from tests.support.web import orders_now, produce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
XSS_NAME = "<img src=x onerror=alert(1)>"
XSS_TITLE = "<script>alert(2)</script>"

# Everything the page shows, read back from the exact integers it keeps in data attributes.
SHOWN = """() => {
  const q = (s) => document.querySelector(s);
  const int = (v) => (v === undefined ? null : Number(v));
  const rows = (s) => Array.from(document.querySelectorAll(s));
  return {
    totals: {orders: int(q('#orders').dataset.value), gross_cents: int(q('#gross').dataset.cents),
             refunds_cents: int(q('#refunds').dataset.cents), net_cents: int(q('#net-sales').dataset.cents),
             aov_cents: int(q('#aov').dataset.cents), unique_customers: int(q('#shoppers').dataset.value)},
    top_merchants: rows('#top-merchants tr[data-merchant-id]').map((tr) => ({
      merchant_id: tr.dataset.merchantId, name: tr.querySelector('.name').textContent,
      orders: int(tr.dataset.orders), net_cents: int(tr.dataset.cents)})),
    top_products: rows('#top-products tr[data-sku]').map((tr) => ({
      sku: tr.dataset.sku, qty: int(tr.dataset.qty), net_cents: int(tr.dataset.cents)})),
    channels: rows('#channels li[data-channel]').map((li) => ({
      channel: li.dataset.channel, orders: int(li.dataset.orders), net_cents: int(li.dataset.cents)})),
    late_events: int(q('#late').dataset.value),
    dead_letters: int(q('#dead-letters').dataset.value),
    map: (q('#chart-map').data || [{}])[0].locations || [],
    minute_bars: (q('#chart-minutes').data || [{y: []}])[0].y.length,
    seconds_cents: Math.round((q('#chart-seconds').data || [{y: []}])[0].y.reduce((a, b) => a + b, 0) * 100),
  };
}"""


def shown_cents(page: Page) -> int:
    return int(page.get_attribute("#net-sales", "data-cents") or "0")


def expected(snapshot: dict[str, Any]) -> dict[str, Any]:
    """What the page should show for a snapshot, in the shape SHOWN reads it back."""
    return {
        "totals": {k: snapshot["totals"][k] for k in ("orders", "gross_cents", "refunds_cents", "net_cents",
                                                       "aov_cents", "unique_customers")},
        "top_merchants": snapshot["top_merchants"],
        "top_products": [{k: p[k] for k in ("sku", "qty", "net_cents")} for p in snapshot["top_products"]],
        "channels": snapshot["channels"],
        "late_events": snapshot["late_events"],
        "dead_letters": sum(snapshot["dead_letters"].values()),
        "minute_bars": len(snapshot["minutes"]),
        "seconds_cents": sum(s["gross_cents"] - s["refunds_cents"] for s in snapshot["seconds"]),
    }


def shows(tab: Page, snapshot: dict[str, Any]) -> bool:
    shown = tab.evaluate(SHOWN)
    return {k: v for k, v in shown.items() if k != "map"} == expected(snapshot)


def test_the_counter_rises_with_live_orders_and_every_figure_lands_on_the_exact_total(
    stack: App, processes: Processes, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    tab.goto(stack.url)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    # an empty day: zero, not a dash, once the server says so (its snapshot follows the socket's opening)
    tab.wait_for_function("document.querySelector('#aov').textContent === '$0.00'", timeout=15_000)
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "80", "--duration", "6")

    readings = []
    for _ in range(8):
        time.sleep(0.75)
        readings.append(shown_cents(tab))
    assert len(set(readings)) >= 3 and readings[-1] > readings[0], readings  # it rises, step by step
    assert readings == sorted(readings)  # net only rises here: refunds are a few percent

    assert load.wait(30) == 0
    snapshot = wait_until(lambda: settled(stack), 30, message="all 480 events counted")
    wait_until(lambda: shows(tab, snapshot), 10, message="the page to show every figure of the snapshot")
    wait_until(lambda: tab.text_content("#net-sales") == _usd(snapshot["totals"]["net_cents"]), 5,
               message="the animated counter to land on the total")
    iso3 = {"US": "USA", "GB": "GBR", "DE": "DEU", "JP": "JPN", "BR": "BRA", "KW": "KWT", "FR": "FRA"}
    wait_until(lambda: {iso3[c["country"]] for c in snapshot["countries"] if c["country"] in iso3}
               <= set(tab.evaluate(SHOWN)["map"]), 5, message="the map to colour the buyers' countries")
    # Plotly's world map came from this server (offline), not a CDN, and drew country shapes.
    assert tab.locator("#chart-map path.choroplethlocation").count() >= len(snapshot["countries"]) > 0
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert errors == []


def test_a_merchant_named_like_markup_is_shown_as_text(
    stack: App, env: dict[str, str], page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    tab.goto(stack.url)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    evil = orders_now(1, merchant_id="m66666", merchant_name=XSS_NAME, total_minor=9_999_900,
                      lines=[{"sku": "m66666-p001", "title": XSS_TITLE, "qty": 1, "price_minor": 9_999_900}])
    produce(env, [*evil, *orders_now(30)])
    row = tab.wait_for_selector("#top-merchants tr[data-merchant-id=m66666]", timeout=30_000)
    assert row.query_selector(".name").text_content() == XSS_NAME
    product = tab.wait_for_selector("#top-products tr[data-sku=m66666-p001]", timeout=10_000)
    assert product.query_selector(".name").text_content().startswith(XSS_TITLE)
    time.sleep(1.0)  # time enough for an injected handler to have fired
    assert tab.locator("img, main script").count() == 0  # no element was made from a name
    ARTIFACTS.mkdir(exist_ok=True)
    tab.locator(".merchants-card").screenshot(path=str(ARTIFACTS / "merchant-names-as-text.png"))
    assert errors == []


def test_the_page_reconnects_and_resyncs_after_the_app_restarts(
    stack: App, processes: Processes, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    port = int(stack.url.rsplit(":", 1)[1])
    processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "1")
    tab.goto(stack.url)
    wait_until(lambda: shown_cents(tab) == stack.get("/api/snapshot").json()["totals"]["net_cents"] > 0, 30,
               message="the first orders on the page")
    # The page has loaded what it fetches once (the map's shapes): the restart is what is tested, not a
    # page cut off while it loads.
    tab.wait_for_selector("#chart-map path.choroplethlocation", timeout=30_000)

    app = next(p for n, p in processes.running if n == "app")
    app.terminate()
    app.wait(20)
    tab.wait_for_selector("#conn[data-state=reconnecting]", timeout=10_000)
    processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "1", "--seed", "2")
    processes.start("app", "-m", "app", "--port", str(port))

    tab.wait_for_selector("#conn[data-state=live]", timeout=30_000)
    snapshot = wait_until(lambda: settled(stack), 30, message="the restarted app to serve the day")
    assert snapshot["totals"]["orders"] >= 390  # both runs' orders: the whole day, not what came since
    wait_until(lambda: shows(tab, snapshot), 30, message="the page to resync every figure after the restart")
    # While the app was down the browser logged failed connection attempts; nothing else may fail.
    assert [e for e in errors if "WebSocket connection" not in e] == []


def _usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
