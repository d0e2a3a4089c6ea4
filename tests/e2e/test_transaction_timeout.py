"""A worker alone, stalled longer than its transactions may stay open: the broker aborts them (and fences
the writers), no other member takes the partitions over, and the group still assigns them to this worker.
It must take them again itself (fresh writers, recovered from the log) and count on, exactly."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import App, Processes, wait_until
from tests.e2e.test_failover import counting
from tests.support.checks import exact, offsets_reach_the_end

pytestmark = pytest.mark.kafka
TRANSACTION_TIMEOUT_S = 2
# The broker looks for timed-out transactions every 10 s (transaction.abort.timed.out.transaction.
# cleanup.interval.ms): a stall this long is past the timeout and past one look, yet within the session.
STALL_S = 16
STALLS = 3
SESSION_TIMEOUT_S = 45


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # Checkpoints each second, dead letters between them: every partition has a transaction open most of
    # the time, as under a heavy load.
    return {**env, "STREAM_TRANSACTION_TIMEOUT_S": str(TRANSACTION_TIMEOUT_S),
            "STREAM_SESSION_TIMEOUT_S": str(SESSION_TIMEOUT_S), "STREAM_CHECKPOINT_MS": "1000"}


@pytest.mark.timeout(420)
def test_a_lone_worker_stalled_past_its_transaction_timeout_takes_its_partitions_again(
        stack: App, processes: Processes, tmp_path: Path) -> None:
    worker = next(p for n, p in processes.running if n == "stream")
    wait_until(lambda: "counting partitions [0, 1, 2, 3]" in processes.log("stream"), 60,
               message="the worker counting every partition")
    truth = tmp_path / "truth.json"
    # The load runs until the stall has done its work (SIGTERM: the loadgen still writes its truth).
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "300", "--duration", "0",
                           "--seed", "41", "--dup-rate", "0.02", "--bad-rate", "0.3", "--truth", str(truth))
    wait_until(lambda: stack.get("/api/snapshot").json()["totals"]["orders"] > 600, 60,
               message="the worker counting under load")
    since = len(processes.log("stream"))
    # A stall aborts only a transaction open at that instant; one that falls between a commit and the next
    # begin leaves nothing to abort, so the worker is stalled again until the broker has aborted one.
    for _ in range(STALLS):
        os.kill(worker.pid, signal.SIGSTOP)
        try:
            time.sleep(STALL_S)  # the stall itself, not a wait for an event
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        if wait_until_or_not(lambda: aborted(processes.log("stream")[since:]), 30):
            break
    assert aborted(processes.log("stream")[since:]), "the broker never aborted a stalled transaction"
    wait_until(lambda: counting(processes, "stream", since), 60,
               message="the worker counting its partitions again")
    counted = stack.get("/api/snapshot").json()["totals"]["orders"]
    wait_until(lambda: stack.get("/api/snapshot").json()["totals"]["orders"] > counted + 300, 60,
               message="the worker counting new orders after it took its partitions again")
    load.send_signal(signal.SIGTERM)
    assert load.wait(120) == 0, processes.log("loadgen")
    exact(stack, truth)
    offsets_reach_the_end(stack, processes.env["KAFKA_BOOTSTRAP"], processes.env["ORDERS_TOPIC"])
    assert worker.poll() is None


def aborted(log: str) -> bool:
    return "can never commit again" in log or "fenced" in log


def wait_until_or_not(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()
