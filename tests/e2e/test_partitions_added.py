"""`orders` grown from 8 to 12 to 16 partitions under load (create_partitions, the usual way to scale a
topic out): every partition is owned and counted, duplicates sent before and after a growth are counted
once, and /healthz is 503 while a partition has records nobody counts."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

from tests.conftest import App, Processes, settled, utc_day, wait_until
from tests.support.truth import by_minute, decode_valid, money, read_topic, tally
from tests.support.web import metrics

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "ORDERS_PARTITIONS": "8"}


def grow(env: dict[str, str], count: int) -> None:
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    for future in admin.create_partitions([NewPartitions(env["ORDERS_TOPIC"], count)]).values():
        future.result()


def written_to(env: dict[str, str], partitions: range) -> bool:
    """Each of `partitions` holds a record (a partition just added may have no leader yet: not yet)."""
    consumer = Consumer({"bootstrap.servers": env["KAFKA_BOOTSTRAP"], "group.id": "watermarks"})
    try:
        for p in partitions:
            try:
                if consumer.get_watermark_offsets(TopicPartition(env["ORDERS_TOPIC"], p), timeout=10)[1] <= 0:
                    return False
            except KafkaException:
                return False
        return True
    finally:
        consumer.close()


def assert_every_order_counted(stack: App, env: dict[str, str]) -> None:
    """The page's figures for every day the load touched equal the log's own truth: orders, cents and
    every minute (each event_id once)."""
    events = decode_valid(read_topic(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"]))
    for day in sorted({utc_day(e["occurred_at"]) for e in events}):
        want_totals, want_minutes = tally(e for e in events if utc_day(e["occurred_at"]) == day)

        def counted(day: str = day, orders: int = want_totals["orders"]) -> dict[str, Any] | None:
            body = settled(stack, day)
            return body if body is not None and body["totals"]["orders"] >= orders else None

        body = wait_until(counted, 90, message=f"every order of {day} counted")
        assert money(body["totals"]) == want_totals, day
        assert by_minute(body) == want_minutes, day


def test_orders_grown_under_load_are_all_counted_and_health_names_a_partition_nobody_counts(
    stack: App, processes: Processes
) -> None:
    env = processes.env
    load = processes.start("loadgen", "-m", "loadgen", "run", "--rate", "300", "--duration", "30",
                           "--dup-rate", "0.05", "--seed", "19")
    wait_until(lambda: stack.get("/api/snapshot").json()["totals"]["orders"] > 0, 30,
               message="the first orders counted")
    grow(env, 12)
    wait_until(lambda: written_to(env, range(8, 12)), 30, message="the load writing to partitions 8-11")
    grow(env, 16)
    wait_until(lambda: written_to(env, range(12, 16)), 30, message="the load writing to partitions 12-15")
    assert load.wait(90) == 0, processes.log("loadgen")

    assert_every_order_counted(stack, env)
    health = wait_until(lambda: (r := stack.get("/healthz")).status_code == 200 and r.json(), 30,
                        message="/healthz 200 once everything is counted")
    assert sorted(int(p) for p in health["orders_lag"]) == list(range(16))
    assert health["uncounted_partitions"] == []
    # The worker counted every partition itself: 8-15 were assigned to it, not merely rerouted by luck.
    assert f"counting partitions {list(range(16))}" in processes.log("stream")

    # No worker at all: orders keep arriving, and /healthz says which partitions wait for one.
    worker = processes.running[0][1]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    more = processes.run("-m", "loadgen", "run", "--rate", "200", "--duration", "3", "--seed", "20")
    assert more.returncode == 0, more.stderr

    def unhealthy() -> dict[str, Any] | None:
        response = stack.get("/healthz")
        return response.json() if response.status_code == 503 else None

    down = wait_until(unhealthy, 40, message="/healthz 503 while no worker counts")
    lagging = {int(p) for p, lag in down["orders_lag"].items() if lag > 0}
    assert down["uncounted_partitions"] and set(down["uncounted_partitions"]) <= lagging
    assert down["kafka"] is True and down["caught_up"] is True  # it is the partitions that are wrong
    samples = metrics(stack.get("/metrics").text)
    assert samples["salesdash_orders_uncounted_partitions"] >= 1
    assert {f'salesdash_orders_lag{{partition="{p}"}}' for p in range(16)} <= set(samples)

    processes.start("stream-2", "-m", "stream")
    wait_until(lambda: stack.get("/healthz").status_code == 200, 90, message="/healthz 200, a worker back")
    assert_every_order_counted(stack, env)

    # A replay and the audit of the grown topic home merchants as the workers did: the same figures.
    events = decode_valid(read_topic(env["KAFKA_BOOTSTRAP"], env["ORDERS_TOPIC"]))
    for day in sorted({utc_day(e["occurred_at"]) for e in events}):
        want_totals, want_minutes = tally(e for e in events if utc_day(e["occurred_at"]) == day)
        replayed = processes.run("-m", "stream", "replay", "--day", day, "--minutes")
        assert replayed.returncode == 0, replayed.stderr
        assert money(json.loads(replayed.stdout)["totals"]) == want_totals, day
        assert by_minute(json.loads(replayed.stdout)) == want_minutes, day
        audited = processes.run("-m", "stream", "audit", "--day", day)  # the page against a recount
        assert audited.returncode == 0, audited.stdout + audited.stderr
