"""The alert banner in a real Chromium against the real stack: the global page lists the alerts raised
(a hostile merchant id as text), a merchant's link lists its own and the data-age one, never another
merchant's, and the banner clears once the alert ends; all from the live socket's messages, the page never
asking /api/alerts."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from playwright.sync_api import Page, WebSocket

from app import links
from tests.conftest import Processes, picture, start_stack, wait_until
from tests.e2e.test_compare_page import away_from_midnight
from tests.support.orders import order_event
from tests.support.web import produce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
TOKEN = "banner-test-token"
HOSTILE = "<img src=x onerror=alert(1)>"
MIN = 60_000
YEAR_MS = 364 * 86_400_000  # last year's same weekday: the default compare day

BANNER = """() => {
  const banner = document.querySelector('#alert-banner');
  return {hidden: banner.hidden, markup: banner.querySelector('img') !== null,
          items: Array.from(banner.querySelectorAll('li')).map((li) => [li.dataset.kind, li.dataset.subject]),
          text: banner.textContent};
}"""


def _sold(merchant: str, start: int, first: int, last: int) -> list[dict[str, Any]]:
    """6 orders a minute for `merchant`, minutes `first` to `last` (exclusive) from `start`."""
    return [order_event(event_id=f"{merchant}-{start}-{k}-{i}", order_id=f"o-{merchant}-{start}-{k}-{i}",
                        merchant_id=merchant, merchant_name=f"Shop {merchant}",
                        occurred_at=start + k * MIN + i * 5_000)
            for k in range(first, last) for i in range(6)]


def _shown(tab: Page) -> dict[str, Any]:
    shown: dict[str, Any] = tab.evaluate(BANNER)
    shown["items"] = {tuple(item) for item in shown["items"]}
    return shown


@pytest.mark.timeout(300 + 22 * 60)  # in the first 21 minutes of a day it waits for them to pass
def test_the_banner_lists_what_each_page_may_see_and_clears_when_the_alert_ends(
    env: dict[str, str], processes: Processes, page: tuple[Page, list[str]]
) -> None:
    # One partition: last year's day closes (the compare day) as soon as today's orders pass it; no
    # follow step while idle, so the data age grows once orders stop, past 3 s.
    env.update(SALESDASH_TOKEN=TOKEN, ORDERS_PARTITIONS="1", STREAM_IDLE_S="600", ALERT_DATA_AGE_S="3",
               ALERT_MIN_EXPECTED="10")
    away_from_midnight(since_s=21 * 60)  # today's orders reach 20 minutes back: all of them today
    app = start_stack(processes)
    now = int(time.time() * 1000)
    shops = (HOSTILE, "m00001", "m00002")
    # Last year all three sold; today HOSTILE and m00001 stopped 8 minutes ago, m00002 did not.
    produce(env, [e for shop in shops for e in _sold(shop, now - YEAR_MS, -20, 10)]
            + [e for shop in shops for e in _sold(shop, now, -20, -8)] + _sold("m00002", now, -8, 0))
    silent_hostile, silent_m1, old = ("silent", HOSTILE), ("silent", "m00001"), ("data_age", "all")
    tab, errors = page
    asked: list[str] = []  # every HTTP request the page makes
    pushed: list[list[str]] = []  # the subjects of each `alerts` message the page's sockets received
    tab.on("request", lambda request: asked.append(request.url))

    def on_socket(socket: WebSocket) -> None:
        def on_frame(payload: str | bytes) -> None:
            message = orjson.loads(payload)
            if message.get("type") == "alerts":
                pushed.append([a["subject"] for a in message["alerts"]])
        socket.on("framereceived", on_frame)

    tab.on("websocket", on_socket)

    tab.goto(f"{app.url}/?token={TOKEN}")
    shown = wait_until(lambda: {silent_hostile, silent_m1, old} <= (s := _shown(tab))["items"] and s, 40,
                       message="the global page's banner")
    assert not shown["hidden"] and not shown["markup"] and HOSTILE in shown["text"]  # text, not markup

    until = now + 3_600_000
    tab.goto(links.url(app.url, TOKEN, "m00001", until))
    shown = wait_until(lambda: (s := _shown(tab))["items"] == {silent_m1, old} and s, 30,
                       message="m00001's banner: its own silence and the data age")
    # 72 orders of $25.00 today: the counter has finished its animation before the picture is taken.
    wait_until(lambda: tab.text_content("#net-sales") == "$1,800.00", 10, message="m00001's net sales")
    tab.screenshot(path=str(picture("merchant-alert.png")))

    tab.goto(links.url(app.url, TOKEN, "m00002", until))
    seen: set[tuple[str, str]] = set()

    def banner(orders: bool) -> dict[str, Any]:
        if orders:  # m00002 sells again: fresh checkpoints, so the data age falls back under 3 s
            produce(env, [order_event(merchant_id="m00002", occurred_at=int(time.time() * 1000))])
        shown = _shown(tab)
        seen.update(shown["items"])
        return shown

    wait_until(lambda: (s := banner(False))["items"] == {old} and not s["hidden"], 30,
               message="m00002's banner: the data age")
    wait_until(lambda: (s := banner(True))["hidden"] and not s["items"], 40, interval=0.5,
               message="m00002's banner cleared")
    assert seen == {old}  # never another merchant's silence
    assert errors == []
    assert pushed, "no alerts message reached the page"  # the data age's ticking detail comes so, at least
    assert not [url for url in asked if "/api/alerts" in url], asked  # pushed, not polled
