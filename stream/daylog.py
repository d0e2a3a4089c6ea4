"""Where a UTC day lies in the `orders` log, found by timestamp.

Records are stamped with the order's own time (Kafka timestamp = occurred_at), so a day starts in a
partition at the first record stamped at or after midnight (`offsets_for_times`). Where it ends is decided
while reading, not here: a late event of the day sits after later-stamped ones, so the day ends in a
partition only when the replayed watermark closes it (`Day.close_ms`, as the live worker decides) or the
partition ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from stream.windows import parse_day

T = TypeVar("T")
# What a just-created topic answers until its partitions have leaders (librdkafka calls them not retriable).
_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.UNKNOWN_TOPIC_OR_PART}


class DayLogError(RuntimeError):
    """The log cannot be read for this day; the message is one line for the user."""


class NoOrders(DayLogError):
    def __init__(self, day: str, topic: str) -> None:
        super().__init__(f"no orders for {day} in topic {topic}")


@dataclass(frozen=True)
class Day:
    name: str  # YYYY-MM-DD
    start_ms: int
    end_ms: int
    close_ms: int  # a partition's watermark at or past this closes the day: nothing later counts for it

    def holds(self, timestamp_ms: int) -> bool:
        return self.start_ms <= timestamp_ms < self.end_ms


def day(text: str, now_ms: int, allowed_lateness_ms: int) -> Day:
    """The day named by `text`; ValueError with a one-line reason for a malformed or future day."""
    start, end = parse_day(text)
    if start > now_ms:
        raise ValueError(f"{text} is in the future")
    return Day(text, start, end, end + allowed_lateness_ms)


@dataclass(frozen=True)
class Span:
    """Offsets of one partition to read for a day: from its first record stamped in the day or later, to
    the end of the partition as the read began."""

    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


def partitions(consumer: Consumer, topic: str, timeout: float = 10.0) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise DayLogError(f"no topic {topic} on the broker")
    return sorted(metadata.partitions)


def spans(consumer: Consumer, topic: str, first_ms: int, timeout: float = 10.0) -> list[Span]:
    """Per partition of `topic`, the offsets from the first record stamped at or after `first_ms` to the
    end; partitions with no such record are left out."""
    wanted = [TopicPartition(topic, p, first_ms) for p in partitions(consumer, topic, timeout)]
    out = []
    for tp in _retrying(lambda: consumer.offsets_for_times(wanted, timeout=timeout), timeout):
        if tp.error is not None:
            raise DayLogError(f"cannot look up offsets by time in {topic}/{tp.partition}: {tp.error}")
        if tp.offset < 0:  # nothing stamped at or after first_ms
            continue
        _, high = _retrying(lambda p=tp.partition: consumer.get_watermark_offsets(TopicPartition(topic, p),
                                                                                   timeout=timeout), timeout)
        if high > tp.offset:
            out.append(Span(tp.partition, tp.offset, high))
    return out


def _retrying(call: Callable[[], T], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0]
            if not (error.retriable() or error.code() in _SETTLING) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
