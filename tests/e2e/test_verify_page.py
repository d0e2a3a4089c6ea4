"""Verify on the page, on the real stack in Chromium: a backfilled day, closed, shown with ?day=; the
Verify button runs the audit in the app's child process and shows "verified" with its time and offsets;
the Download report link gives a file that opens offline with no console error and the app's figures."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.conftest import App, Processes, picture, wait_until
from tests.e2e.test_replay import DAY, backfill
from tests.e2e.test_replay_page import close_the_day
from tests.stream.report.test_html import SHOWN, open_offline

pytestmark = [pytest.mark.kafka, pytest.mark.browser]
HEADLINE = ("net_cents", "gross_cents", "refunds_cents", "aov_cents", "orders", "unique_customers")


def test_verify_shows_verified_and_the_report_opens_offline_with_the_apps_figures(
    stack: App, processes: Processes, tmp_path: Path, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    truth = backfill(processes, tmp_path / "truth.json", orders=8_000)
    close_the_day(processes.env)
    wait_until(lambda: stack.get(f"/api/audits?day={DAY}").json()["closed"], 60, message="the day closed")
    shown = stack.get(f"/api/snapshot?day={DAY}").json()
    assert shown["totals"]["orders"] == truth["days"][DAY]["totals"]["orders"]

    tab.goto(f"{stack.url}/?day={DAY}")
    tab.wait_for_selector(f"#verify-box[data-day='{DAY}']", timeout=15_000)
    tab.wait_for_selector("#report-link:not([hidden])", timeout=10_000)
    tab.click("#verify")
    tab.wait_for_selector("#verify-state[data-state=verified]", timeout=60_000)
    assert tab.text_content("#verify-state") == "verified"
    line = tab.text_content("#verify-line") or ""
    minutes = len(truth["days"][DAY]["minutes"])
    assert line.startswith(f"verified: {minutes:,} minutes, {shown['totals']['orders']:,} orders, ")
    assert " · at " in line
    audit = tab.get_attribute("#verify-box", "data-audit")
    status = httpx.get(f"{stack.url}/api/audits/{audit}", timeout=10).json()
    assert status["state"] == "done" and status["verdict"]["ok"] is True and status["verdict"]["day_closed"]
    assert f"offsets {', '.join(f'{p}:{a}–{b}' for p, (a, b) in status['offsets'].items())}" in line
    tab.screenshot(path=str(picture("verify.png")))

    with tab.expect_download(timeout=120_000) as download:
        tab.click("#report-link")
    path = tmp_path / "report.html"
    download.value.save_as(path)
    assert download.value.suggested_filename == f"salesdash-report-{DAY}.html"
    cached = httpx.get(f"{stack.url}/api/reports/{DAY}.html", timeout=30)  # made once: now from disk
    assert cached.status_code == 200 and cached.content == path.read_bytes()
    assert cached.headers["content-disposition"].startswith("attachment")
    assert errors == []

    asked, failed = open_offline(tab, path)
    tab.wait_for_timeout(500)  # anything late to fail would do so now
    report = tab.evaluate(SHOWN)
    assert asked == [path.as_uri()] and failed == [] and errors == []
    assert report["totals"] == {k: shown["totals"][k] for k in HEADLINE}
    assert report["bars"] == minutes and report["seconds"] == 20
    assert tab.get_attribute("#verdict", "data-ok") == "true"
    assert tab.query_selector("#day-open") is None  # closed: the report does not say "day still open"
