"""The page's side of exactly once to the browser, on the real page with its websocket answered by the test:
a delta that is not the next step of the snapshot it holds (a gap, a repeat, another process's epoch) is
not applied; the page asks for a snapshot and shows nothing new until one comes."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
import pytest
from playwright.sync_api import Page, WebSocketRoute

from tests.conftest import App, utc_day, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


def _message(kind: str, epoch: str, seq: int, orders: int, kafka: bool = True) -> str:
    now = int(time.time() * 1000)
    body: dict[str, Any] = {
        "type": kind, "sent_ms": now, "day": utc_day(), "as_of_ms": now, "epoch": epoch, "seq": seq,
        "totals": {"orders": orders, "gross_cents": 1_000 * orders, "refunds_cents": 0,
                   "net_cents": 1_000 * orders, "aov_cents": 1_000, "unique_customers": orders},
        "minutes": [], "seconds": []}
    if kind == "snapshot":
        body["kafka"] = kafka
    return orjson.dumps(body).decode()


def test_a_delta_out_of_step_is_not_shown_and_the_page_asks_for_a_snapshot(
    stack: App, page: tuple[Page, list[str]]
) -> None:
    tab, errors = page
    sockets: list[WebSocketRoute] = []
    asked: list[str] = []

    def serve(ws: WebSocketRoute) -> None:  # the app's /ws, answered by the test
        ws.on_message(lambda frame: asked.append(str(frame)))
        sockets.append(ws)
        ws.send(_message("snapshot", "e1", 5, 10))

    def shown() -> int:
        return int(tab.get_attribute("#orders", "data-value") or "-1")

    kafka = [True]

    def resyncs() -> int:
        return sum('"resync"' in a for a in asked)

    def step(kind: str, epoch: str, seq: int, orders: int, then: int, asked_for: int) -> None:
        """Send a message; once the page has taken it, it shows `then` orders and has asked for `asked_for`
        snapshots."""
        sockets[0].send(_message(kind, epoch, seq, orders, kafka[0]))
        # A health change after it: once the page shows that, it has handled the message before it.
        kafka[0] = not kafka[0]
        sockets[0].send(orjson.dumps({"type": "health", "sent_ms": 0, "kafka": kafka[0]}).decode())
        tab.wait_for_selector(f"#conn[data-state={'live' if kafka[0] else 'kafka-down'}]", timeout=10_000)
        wait_until(lambda: resyncs() == asked_for, 5, message=f"{asked_for} snapshots asked for")
        assert shown() == then

    tab.route_web_socket(re.compile(r"/ws(\?|$)"), serve)
    tab.goto(stack.url)
    wait_until(lambda: shown() == 10, 15, message="the first snapshot shown")
    step("delta", "e1", 6, 11, then=11, asked_for=0)  # the next step: applied
    step("delta", "e1", 8, 13, then=11, asked_for=1)  # step 7 is missing: not applied, a snapshot asked for
    step("delta", "e1", 9, 99, then=11, asked_for=1)  # still waiting for that snapshot: nothing applied
    step("snapshot", "e1", 9, 14, then=14, asked_for=1)
    step("delta", "e2", 10, 15, then=14, asked_for=2)  # another app process's step: not this snapshot's
    step("snapshot", "e2", 3, 20, then=20, asked_for=2)  # a new process's count starts low: no repeat
    step("delta", "e2", 4, 21, then=21, asked_for=2)
    step("delta", "e2", 4, 22, then=21, asked_for=3)  # a repeat of step 4
    step("snapshot", "e2", 4, 22, then=22, asked_for=3)
    assert all(orjson.loads(a) == {"type": "resync"} for a in asked if '"resync"' in a)
    assert tab.get_attribute("body", "data-epoch") == "e2"
    assert errors == []
