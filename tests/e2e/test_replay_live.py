"""Replays run while live load flows: the live view, its consumer groups and their committed offsets are
untouched, and a published replay session folds to the replayed day."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import ConsumerGroupTopicPartitions
from confluent_kafka.admin import AdminClient

from stream.core.salesview import SalesView
from tests.conftest import App, Processes, settled, wait_until
from tests.e2e.test_replay import DAY, backfill, replay
from tests.support.truth import by_minute, money, read_topic

pytestmark = pytest.mark.kafka



def groups(admin: AdminClient) -> set[str]:
    return {g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid}


def committed(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    request = [ConsumerGroupTopicPartitions(group)]
    answer = admin.list_consumer_group_offsets(request, request_timeout=10)[group].result()
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or []}


def test_replaying_during_live_load_leaves_the_live_view_its_groups_and_offsets_alone(
    stack: App, processes: Processes, tmp_path: Path
) -> None:
    env = processes.env
    backfill(processes, tmp_path / "day.json", orders=5_000)
    day_before = wait_until(lambda: settled(stack, DAY), 60, message="the backfilled day counted")
    admin = AdminClient({"bootstrap.servers": env["KAFKA_BOOTSTRAP"]})
    live_groups = [env["STREAM_GROUP"], f"{env['STREAM_GROUP']}.reader"]
    wait_until(lambda: env["STREAM_GROUP"] in groups(admin), 30, message="the worker's group")
    offsets_before = {g: committed(admin, g) for g in live_groups}
    groups_before = groups(admin)

    # Until stopped, not for a fixed time: two replays on a loaded machine can outlast any fixed duration.
    load = processes.start("live-load", "-m", "loadgen", "run", "--rate", "300", "--duration", "0",
                           "--seed", "9", "--truth", str(tmp_path / "live.json"))
    time.sleep(2)  # the live load is flowing
    fast = replay(processes, "--day", DAY, "--publish", "--minutes")
    first, last = fast["minutes"][0]["start_ms"], fast["minutes"][-1]["start_ms"]
    speed = round((last - first) / 4000)  # the day's records, paced from its first minute, take 4 s
    started = time.monotonic()
    from_time = time.strftime("%H:%M", time.gmtime(first / 1000))
    paced = replay(processes, "--day", DAY, "--minutes", "--speed", str(speed), "--from", from_time)
    assert time.monotonic() - started >= (last - first) / 1000 / speed - 0.05  # never faster than asked
    assert load.poll() is None, processes.log("live-load")  # the replays ran while the live load flowed
    load.send_signal(signal.SIGTERM)  # the load stops making orders, waits for Kafka and writes its truth
    assert load.wait(60) == 0, processes.log("live-load")

    live_truth = json.loads((tmp_path / "live.json").read_text())
    for day, want in live_truth["days"].items():  # the live figures are exactly the live load's
        body = wait_until(lambda d=day, w=want: (b := settled(stack, d)) and  # type: ignore[misc]
                          b["totals"]["orders"] >= w["totals"]["orders"] and b, 60, message=f"live {day}")
        assert money(body["totals"]) == want["totals"]
        assert by_minute(body) == by_minute(want)
    day_after = stack.get(f"/api/snapshot?day={DAY}").json()
    assert day_after["totals"] == day_before["totals"]
    assert by_minute(day_after) == by_minute(day_before)
    assert {g: committed(admin, g) for g in live_groups} == offsets_before
    assert not {g for g in groups(admin) - groups_before if "replay" in g}  # replays never join a group

    assert fast["totals"] == paced["totals"] == day_before["totals"]
    assert by_minute(fast) == by_minute(paced) == by_minute(day_before)
    assert_session_folds_to(env, fast)


def assert_session_folds_to(env: dict[str, str], replayed: dict[str, Any]) -> None:
    """An app that folds the session's topic, as it folds the live aggregates, sees the replayed day."""
    bootstrap = env["KAFKA_BOOTSTRAP"]
    registry = [orjson.loads(v) for v in read_topic(bootstrap, f"{env['AGGREGATES_TOPIC']}.replays")]
    entry = [doc for doc in registry if doc["session"] == replayed["session"]]
    assert [doc["state"] for doc in entry] == ["running", "finished"]
    finished = entry[-1]
    assert (finished["day"], finished["topic"], finished["speed"]) == (DAY, replayed["session_topic"], "max")
    view = SalesView()
    assert all(view.apply(raw) for raw in read_topic(bootstrap, finished["topic"]))
    assert {str(p): led.end for p, led in view.ledgers.items()} == finished["ends"]
    assert view.snapshot(DAY)["totals"] == replayed["totals"] == finished["totals"]
