"""Two workers in one group share the partitions; stopping one mid-run moves its partitions, exactly."""

from __future__ import annotations

import signal
import time

import pytest

from tests.conftest import App, Processes, settled, wait_until
from tests.support.truth import by_minute, decode_valid, money, read_topic, tally

pytestmark = pytest.mark.kafka


def test_two_workers_share_the_work_and_one_leaving_mid_run_changes_no_figure(
    stack: App, processes: Processes
) -> None:
    day = time.strftime("%Y-%m-%d", time.gmtime())
    second = processes.start("stream-2", "-m", "stream")
    wait_until(lambda: "counting partitions" in processes.log("stream-2"), 30,
               message="the second worker to get partitions")
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "300", "--duration", "10")
    time.sleep(4)
    second.send_signal(signal.SIGTERM)  # a clean leave: the group rebalances, the first worker takes over
    assert second.wait(30) == 0
    assert load.wait(60) == 0, processes.log("loadgen")

    first_log = processes.log("stream")
    assert first_log.count("counting partitions") >= 2, "the first worker never took the partitions over"
    events = decode_valid(read_topic(processes.env["KAFKA_BOOTSTRAP"], processes.env["ORDERS_TOPIC"]))
    assert len(events) == 3000
    want_totals, want_minutes = tally(
        e for e in events if time.strftime("%Y-%m-%d", time.gmtime(e["occurred_at"] / 1000)) == day)
    body = wait_until(lambda: (b := settled(stack, day)) and b["totals"]["orders"] >= want_totals["orders"]
                      and b, 60, message="all orders counted")
    assert money(body["totals"]) == want_totals
    assert by_minute(body) == want_minutes
