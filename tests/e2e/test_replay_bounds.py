"""Replay sessions bounded on the real broker: with REPLAY_SESSIONS_KEPT=2, preparing a third session
deletes the least recently used one's topic and tombstones its registry entry; the others stay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from tests.conftest import App, Processes, wait_until
from tests.e2e.test_replay import DAY, backfill
from tests.e2e.test_replay_page import start_replay, watch

pytestmark = pytest.mark.kafka


@pytest.fixture
def two_kept(env: dict[str, str]) -> int:
    env["REPLAY_SESSIONS_KEPT"] = "2"
    return 2


def registry_values(bootstrap: str, topic: str) -> dict[str, bytes | None]:
    """The newest value of each key in the registry as written (a tombstone reads None)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"registry-{time.monotonic_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: dict[str, bytes | None] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            break  # the end of the partition
        values[message.key().decode()] = message.value()
    consumer.close()
    return values


def test_a_third_session_deletes_the_oldest_when_two_are_kept(
    two_kept: int, stack: App, processes: Processes, tmp_path: Path, env: dict[str, str]
) -> None:
    backfill(processes, tmp_path / "truth.json", orders=1_000)
    # The day list is the workers' day index: a day is there once they have counted it.
    wait_until(lambda: any(d["day"] == DAY for d in stack.get("/api/days").json()["days"]), 60,
               message=f"{DAY} in /api/days")
    sessions: list[str] = []
    for _ in range(3):  # the day stays open to late records: each replay is counted afresh
        # Until the last preparation's process has exited, the app hands out its session again.
        sessions.append(wait_until(lambda: (s := start_replay(stack, DAY).json()["session"]) not in sessions
                                   and s, 30, message="a new session"))
        asyncio.run(watch(stack, sessions[-1], "max", until="ended"))
    first, second, third = sessions
    topic = f"{env['AGGREGATES_TOPIC']}.replay.{{}}"
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    topics = wait_until(lambda: (t := admin.list_topics(timeout=10).topics) and
                        topic.format(first) not in t and t, 15, message=f"{first}'s topic deleted")
    assert topic.format(second) in topics and topic.format(third) in topics
    registry = registry_values(env["KAFKA_BOOTSTRAP"], f"{env['AGGREGATES_TOPIC']}.replays")
    assert registry[first] is None  # tombstoned
    assert registry[second] and registry[third]
