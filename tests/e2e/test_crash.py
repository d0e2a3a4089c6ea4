"""kill -9 of the worker mid-run: after restarts, every order is counted exactly once."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.conftest import App, Processes, wait_until
from tests.support.truth import by_minute, decode_valid, money, read_topic, tally

pytestmark = pytest.mark.kafka


def test_worker_killed_twice_mid_run_loses_and_doubles_nothing(stack: App, processes: Processes) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "400", "--duration", "12")
    for _ in range(2):
        time.sleep(3.5)
        worker = next(p for n, p in reversed(processes.running) if n == "stream")
        os.killpg(worker.pid, signal.SIGKILL)  # no goodbye: no commit, no flush, no LeaveGroup
        worker.wait()
        processes.start("stream", "-m", "stream")
    assert load.wait(60) == 0, processes.log("loadgen")

    events = decode_valid(read_topic(processes.env["KAFKA_BOOTSTRAP"], processes.env["ORDERS_TOPIC"]))
    assert len(events) == 4800
    want_totals, want_minutes = tally(e for e in events if time.strftime(
        "%Y-%m-%d", time.gmtime(e["occurred_at"] / 1000)) == day)

    def caught_up() -> dict[str, Any] | None:
        body = stack.get(f"/api/snapshot?day={day}").json()
        return body if body["totals"]["orders"] >= want_totals["orders"] else None

    wait_until(caught_up, 90, message="the restarted worker to catch up")
    time.sleep(2)  # a double count would land by now
    body = stack.get(f"/api/snapshot?day={day}").json()
    assert money(body["totals"]) == want_totals
    assert by_minute(body) == want_minutes
    assert "recovered" in processes.log("stream")
