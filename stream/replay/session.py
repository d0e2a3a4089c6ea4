"""A published replay session: a replayed day's checkpoints on a topic of its own, and a registry entry
saying what the session holds, so an app can fold it exactly as it folds the live aggregates topic.

- `<AGGREGATES_TOPIC>.replay.<session>`: ordinary v2 checkpoints, partition p for input partition p,
  key = the partition number, chained by `start`/`end` like the live ones. Nothing else is written there.
- `<AGGREGATES_TOPIC>.replays` (one partition, compacted, key = session id): a JSON document per
  session, written as it starts (`"state": "running"`) and again as it ends (`"finished"` with each
  partition's final `end`, so a reader knows when it has folded everything, and the day's totals; or
  `"failed"`).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson

from stream.config import Settings
from stream.core.eventtime import Day
from stream.kafka.admin import TopicError, create_topics
from stream.kafka.clients import MAX_RECORD_BYTES
from stream.kafka.writer import Writer

VERSION = 2  # 2: sessions of version 3 checkpoints (version 1 held version 2 ones)
ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


class SessionError(RuntimeError):
    pass


def new_id(day: str) -> str:
    return f"{day}-{uuid.uuid4().hex[:8]}"


def valid_id(text: str) -> bool:
    """A session id names a topic: letters, digits, '-' and '_' only, at most 100 of them."""
    return bool(ID.fullmatch(text))


def registry_topic(settings: Settings) -> str:
    return f"{settings.aggregates_topic}.replays"


class Session:
    def __init__(self, settings: Settings, day: Day, speed: float | None, source_topic: str,
                 partitions: int, session_id: str | None = None, read: list[int] | None = None) -> None:
        self.id = session_id or new_id(day.name)
        self.topic = f"{settings.aggregates_topic}.replay.{self.id}"
        self.registry = registry_topic(settings)
        self._doc: dict[str, Any] = {
            "v": VERSION, "session": self.id, "day": day.name, "speed": "max" if speed is None else speed,
            "topic": self.topic, "source_topic": source_topic, "partitions": partitions,
            # The partitions with records of the day or later: the only ones that will get checkpoints.
            "read": sorted(range(partitions) if read is None else read),
            "started_ms": int(time.time() * 1000),
        }
        try:
            create_topics(settings, {
                self.topic: (partitions, {"retention.ms": "-1", "retention.bytes": "-1",
                                          "max.message.bytes": str(MAX_RECORD_BYTES)}),
                self.registry: (1, {"cleanup.policy": "compact", "retention.ms": "-1"}),
            })
        except TopicError as exc:
            raise SessionError(str(exc)) from None
        self._writer = Writer(settings)
        self._announce("running")

    def publish(self, partition: int, checkpoint: bytes) -> None:
        self._produce(self.topic, checkpoint, str(partition).encode(), partition)

    def finish(self, state: str, **facts: Any) -> None:
        """Record how the session ended ("finished" or "failed") and wait until Kafka has everything."""
        self._announce(state, **facts)
        left = self._writer.flush(60)
        if left or self._writer.errors:
            problem = self._writer.errors[0] if self._writer.errors else f"{left} records unacknowledged"
            raise SessionError(f"publishing replay session {self.id} failed: {problem}")

    def _announce(self, state: str, **facts: Any) -> None:
        doc = {**self._doc, "state": state, "updated_ms": int(time.time() * 1000), **facts}
        self._produce(self.registry, orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS), self.id.encode(), 0)

    def _produce(self, topic: str, value: bytes, key: bytes, partition: int) -> None:
        self._writer.send(topic, value, key, partition=partition)
        self._writer.poll(0)
