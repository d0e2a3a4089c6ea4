"""`python -m app --workers 2` on one port: each process folds the aggregates itself; killing the one a
page is on sends the page to another process, whose snapshot it starts again from (a new epoch), and its
figures end equal to the truth of every order sent."""

from __future__ import annotations

import signal

import psutil
import pytest
from playwright.sync_api import Page

from broker import free_port
from tests.conftest import App, Processes, settled, wait_until
from tests.e2e.test_page import shown_cents, shows
from tests.support.truth import tally
from tests.support.web import orders_now, produce

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


def _holding_sockets(parent: psutil.Process, port: int) -> list[psutil.Process]:
    """The app processes with an established connection on `port`."""
    return [child for child in parent.children() if any(
        c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
        for c in child.net_connections(kind="tcp"))]


def test_a_page_on_a_killed_app_process_resyncs_from_another_and_shows_the_truth(
    processes: Processes, env: dict[str, str], page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    port = free_port()
    processes.start("stream", "-m", "stream")
    supervisor = processes.start("app", "-m", "app", "--workers", "2", "--port", str(port))
    app = App(port)
    parent = psutil.Process(supervisor.pid)
    wait_until(lambda: len(parent.children()) == 2, 30, message="two app processes")
    # Each process answers for itself: ask until both have said 200 (the kernel picks one per request).
    wait_until(lambda: all(app.get("/healthz").status_code == 200 for _ in range(8)), 90,
               message="both app processes caught up")

    first = orders_now(200)
    produce(env, first)
    tab.goto(app.url)
    wait_until(lambda: shown_cents(tab) == tally(first)[0]["net_cents"], 30, message="the first orders shown")
    epoch = tab.get_attribute("body", "data-epoch")
    assert epoch
    # Once idle HTTP connections have timed out, the page's websocket is the one connection left.
    holder = wait_until(lambda: (held := _holding_sockets(parent, port)) and len(held) == 1 and held[0], 30,
                        message="one app process holding the page's websocket")
    others = {child.pid for child in parent.children()} - {holder.pid}
    holder.send_signal(signal.SIGKILL)

    second = orders_now(150, total_minor=2_345)
    produce(env, second)
    truth = tally(first + second)[0]
    wait_until(lambda: tab.get_attribute("body", "data-epoch") not in (None, "", epoch), 30,
               message="the page on another process's snapshot")
    wait_until(lambda: shown_cents(tab) == truth["net_cents"], 30, message="the page to show every order")
    snapshot = wait_until(lambda: settled(app), 30, message="the day settled")
    assert {k: snapshot["totals"][k] for k in truth} == truth
    wait_until(lambda: shows(tab, snapshot), 30, message="every figure of the surviving view")
    assert others <= {child.pid for child in parent.children()}  # the other process served throughout
    assert supervisor.poll() is None
    assert [e for e in errors if "WebSocket connection" not in e] == []
