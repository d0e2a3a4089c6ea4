"""Live helpers of the history and failover stages: a thread that follows the aggregates topic and keeps
every committed checkpoint's `written_ms` per partition, and a worker's log read as timeline lines."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench.timeline import Line, parse_log


class Checkpoints(threading.Thread):
    """`written(p)`: the written_ms of partition p's checkpoints so far, ascending."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        # Committed records only, as every reader of the topic: an aborted checkpoint never showed.
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-follow-{uuid.uuid4()}",
                                  "enable.auto.commit": False, "isolation.level": "read_committed",
                                  "fetch.wait.max.ms": 20})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        self._written: dict[int, list[int]] = {p: [] for p in range(partitions)}
        self._lock = threading.Lock()
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                for message in self.consumer.consume(1000, 0.1):
                    value = message.value()
                    if message.error() is not None or value is None:
                        continue
                    doc = orjson.loads(value)
                    with self._lock:
                        self._written[doc["p"]].append(int(doc["written_ms"]))
        finally:
            self.consumer.close()

    def written(self, partition: int) -> list[int]:
        with self._lock:
            return sorted(self._written[partition])

    def all_since(self, ms: int) -> bool:
        """Whether every partition has a checkpoint written after `ms`."""
        with self._lock:
            return all(any(w > ms for w in ws[-50:]) for ws in self._written.values())

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def log_lines(path: Path) -> list[Line]:
    return parse_log(path.read_text(errors="replace")) if path.exists() else []


def now_ms() -> int:
    return int(time.time() * 1000)
