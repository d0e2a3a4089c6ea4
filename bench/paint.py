"""Time to first paint of the page with a full day loaded, in headless Debian chromium driven by playwright
(as tests/conftest.py does): first contentful paint, and until the day's order count and per-minute
chart are on screen, both from navigation start. The browser is started before the clock."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from playwright.sync_api import sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
# The counter shows the day's total and plotly has drawn the minute bars.
_DRAWN = """orders => {
  const counter = document.querySelector('#orders');
  const bars = document.querySelectorAll('#chart-minutes .barlayer .point').length;
  return counter && counter.dataset.value === String(orders) && bars > 0 ? bars : 0;
}"""


@dataclass(frozen=True)
class Paint:
    first_contentful_ms: float
    day_drawn_ms: float  # the full day's figures and minute chart on screen
    minute_bars: int


def measure(url: str, orders: int, timeout_ms: float = 60_000) -> Paint:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.goto(url, wait_until="commit")
            bars = page.wait_for_function(_DRAWN, arg=orders, polling="raf", timeout=timeout_ms).json_value()
            drawn = page.evaluate("performance.now()")
            page.wait_for_function("performance.getEntriesByName('first-contentful-paint').length > 0",
                                   timeout=timeout_ms)
            fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
            return Paint(float(fcp), float(drawn), int(bars))
        finally:
            browser.close()
