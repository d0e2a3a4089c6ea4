"""The page in a real headless Chromium against the real stack: live counter, exact totals, reconnect."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

from tests.conftest import ROOT, App, Processes, settled, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def page() -> Iterator[tuple[Page, list[str]]]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make chromium` (make test does it)")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = context.new_page()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        tab.on("console", on_console)
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        yield tab, errors
        browser.close()


def shown_cents(page: Page) -> int:
    return int(page.get_attribute("#net-sales", "data-cents") or "0")


def test_the_counter_rises_with_live_orders_and_lands_on_the_exact_total(
    stack: App, processes: Processes, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    tab.goto(stack.url)
    tab.wait_for_selector("#conn[data-state=live]", timeout=15_000)
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "80", "--duration", "6")

    readings = []
    for _ in range(8):
        time.sleep(0.75)
        readings.append(shown_cents(tab))
    assert len(set(readings)) >= 3 and readings[-1] > readings[0], readings  # it rises, step by step
    assert readings == sorted(readings)  # net only rises here: refunds are a few percent

    assert load.wait(30) == 0
    snapshot = wait_until(lambda: settled(stack), 30, message="all 480 events counted")
    wait_until(lambda: shown_cents(tab) == snapshot["totals"]["net_cents"], 10,
               message="the page to show the exact net")
    totals = snapshot["totals"]
    assert tab.get_attribute("#orders", "data-value") == str(totals["orders"])
    assert tab.get_attribute("#gross", "data-cents") == str(totals["gross_cents"])
    assert tab.get_attribute("#refunds", "data-cents") == str(totals["refunds_cents"])
    wait_until(lambda: tab.text_content("#net-sales") == _usd(totals["net_cents"]), 5,
               message="the animated counter to land on the total")
    bars = tab.evaluate("document.getElementById('chart-minutes').data[0].y.length")
    assert bars == len(snapshot["minutes"])
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
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

    app = next(p for n, p in processes.running if n == "app")
    app.terminate()
    app.wait(20)
    tab.wait_for_selector("#conn[data-state=reconnecting]", timeout=10_000)
    processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "1", "--seed", "2")
    processes.start("app", "-m", "app", "--port", str(port))

    tab.wait_for_selector("#conn[data-state=live]", timeout=30_000)
    snapshot = wait_until(lambda: settled(stack), 30, message="the restarted app to serve the day")
    assert snapshot["totals"]["orders"] >= 390  # both runs' orders: the whole day, not what came since
    wait_until(lambda: shown_cents(tab) == snapshot["totals"]["net_cents"], 30,
               message="the page to resync after the restart")
    # While the app was down the browser logged failed connection attempts; nothing else may fail.
    assert [e for e in errors if "WebSocket connection" not in e] == []


def _usd(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
