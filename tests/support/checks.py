"""What the failure tests check, computed without the project's code: the app's figures against the load
generator's truth file, every partition's shown offset against the log's end, and how long a partition's
published figures stood still while its input went on."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, TopicPartition

from tests.conftest import App, settled, wait_until
from tests.support.truth import by_minute, money


def exact(app: App, truth_path: Path, timeout: float = 90) -> dict[str, Any]:
    """Every day of the truth file shown to the cent, totals and every minute; returns the truth."""
    truth = json.loads(truth_path.read_text())
    assert truth["counts"]["failed"] == 0, truth["counts"]
    for day, want in truth["days"].items():
        seen: list[Any] = [None]

        def counted(d: str = day, w: dict[str, Any] = want, seen: list[Any] = seen) -> dict[str, Any] | None:
            seen[0] = body = settled(app, d)
            return body if body and body["totals"]["orders"] >= w["totals"]["orders"] else None

        try:
            body = wait_until(counted, timeout, message=f"{day} fully counted")
        except AssertionError as failed:
            shown = (seen[0] or {}).get("totals")
            raise AssertionError(f"{failed}; shown {shown}, want {want['totals']}") from None
        assert money(body["totals"]) == want["totals"], day
        assert by_minute(body) == by_minute(want), day
    return truth


def log_ends(bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"ends-{uuid.uuid4().hex[:8]}",
                         **(config or {})})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
    finally:
        consumer.close()


def offsets_reach_the_end(app: App, bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> None:
    """Every partition's shown offset reaches the end of its input (a frozen partition would not)."""
    ends = log_ends(bootstrap, topic, config)

    def reached() -> bool:
        shown = app.get("/api/snapshot").json()["offsets"]
        return all(shown.get(str(p), 0) >= end for p, end in ends.items() if end > 0)

    wait_until(reached, 60, message=f"every partition's figures to reach the end of {topic}: {ends}")


def checkpoints(bootstrap: str, topic: str, config: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every committed checkpoint record of the aggregates topic, decoded by hand."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"stalls-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed", **(config or {})})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        records, at_end = [], set()
        deadline = time.monotonic() + 60
        while len(at_end) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add(message.partition())
                    continue
                try:
                    doc = orjson.loads(message.value() or b"")
                except orjson.JSONDecodeError:
                    continue
                if isinstance(doc, dict) and doc.get("v") == 3:
                    records.append(doc)
        return records
    finally:
        consumer.close()


def longest_stall(records: list[dict[str, Any]], since_ms: int, until_ms: int) -> tuple[float, int]:
    """(seconds, partition): the longest time between two consecutive checkpoints of one partition,
    within [since_ms, until_ms], that covered new input (its figures stood still while orders came)."""
    worst, where = 0.0, -1
    by_partition: dict[int, list[dict[str, Any]]] = {}
    for doc in records:
        by_partition.setdefault(doc["p"], []).append(doc)
    for partition, docs in by_partition.items():
        chain = [d for d in docs if since_ms <= d["written_ms"] <= until_ms]
        for before, after in itertools.pairwise(chain):
            if after["end"] > after["start"] and after["written_ms"] - before["written_ms"] > worst * 1000:
                worst, where = (after["written_ms"] - before["written_ms"]) / 1000, partition
    return worst, where
