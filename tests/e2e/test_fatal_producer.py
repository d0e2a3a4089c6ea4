"""A zombie woken after a successor took its partitions over: its writers are fenced (librdkafka says so
with _FENCED, then _FATAL from every produce()), and, like a Kafka Streams task that migrated, the worker
gives those partitions up and stays up and a member of the group; once the group gives it partitions
again it counts them with fresh writers, and the figures equal the load generator's truth to the cent."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import App, Processes, wait_until
from tests.e2e.test_failover import counting, two_workers
from tests.support.checks import exact, offsets_reach_the_end

pytestmark = pytest.mark.kafka
ALL = "counting partitions [0, 1, 2, 3]"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    # A checkpoint each second and dead letters between them: the woken zombie goes on calling produce()
    # after librdkafka has learnt of the fence, as a busy worker does, and meets _FATAL there.
    return {**env, "STREAM_CHECKPOINT_MS": "1000"}


def members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    return len(described.members)


@pytest.mark.timeout(300)
def test_a_zombie_woken_after_its_successor_took_over_stays_a_member_and_counts_again(
        stack: App, processes: Processes, tmp_path: Path) -> None:
    two_workers(processes)
    a = next(p for n, p in processes.running if n == "stream")
    b = next(p for n, p in processes.running if n == "stream-b")
    bootstrap, group = processes.env["KAFKA_BOOTSTRAP"], processes.env["STREAM_GROUP"]
    truth = tmp_path / "truth.json"
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "300", "--duration", "60",
                           "--seed", "31", "--dup-rate", "0.02", "--bad-rate", "0.3", "--truth", str(truth))
    wait_until(lambda: members(bootstrap, group) == 2, 30, message="two members in the group")
    time.sleep(3)  # both count under load, transactions open
    b_log = len(processes.log("stream-b"))
    os.kill(a.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: ALL in processes.log("stream-b")[b_log:], 60,
                   message="the second worker to take every partition over")
    finally:
        a_log = len(processes.log("stream"))  # before it wakes: its refusal may be logged at once
        os.kill(a.pid, signal.SIGCONT)  # it wakes up believing it still owns its partitions, and writes
    wait_until(lambda: "fenced by a newer instance" in processes.log("stream")[a_log:], 30,
               message="the woken worker to be refused by Kafka")
    wait_until(lambda: counting(processes, "stream", a_log) and members(bootstrap, group) == 2, 60,
               message="the woken worker back in the group, counting")
    assert a.poll() is None, "the fenced worker must give its partitions up, not die"

    a_log = len(processes.log("stream"))
    b.send_signal(signal.SIGTERM)  # the zombie must now count everything
    assert b.wait(60) == 0, processes.log("stream-b")[-3000:]
    wait_until(lambda: ALL in processes.log("stream")[a_log:], 60,
               message="the once-fenced worker to take every partition")
    assert load.wait(120) == 0, processes.log("loadgen")
    exact(stack, truth)
    offsets_reach_the_end(stack, bootstrap, processes.env["ORDERS_TOPIC"])
    assert a.poll() is None and members(bootstrap, group) == 1
