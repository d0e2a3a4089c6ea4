"""Lookups in the `orders` log by offset and timestamp: its partitions and their ends, and `spans`.

Where a day lies is not found here: the workers publish a day index (stream.core.daysales, the first
and last input offset counted or tallied into each day) and readers take it from the view. Timestamps
only serve the producers' own checks (a backfill or an import refusing a topic that already has records
stamped in the day or later), which look at what the producer itself wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from stream.config import Settings
from stream.core.dayreplay import Span
from stream.kafka import clients

T = TypeVar("T")
# What a just-created topic answers until its partitions have leaders (librdkafka calls them not retriable).
_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.UNKNOWN_TOPIC_OR_PART}


class DayLogError(RuntimeError):
    """The log cannot be read for this day; the message is one line for the user."""


class NoOrders(DayLogError):
    def __init__(self, day: str, topic: str) -> None:
        super().__init__(f"no orders for {day} in topic {topic}")


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
        _, high = _high(consumer, topic, tp.partition, timeout)
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


def ends(consumer: Consumer, topic: str, partition: int, timeout: float = 10.0) -> tuple[int, int]:
    """The partition's first offset and its end (the low and high watermarks)."""
    return _high(consumer, topic, partition, timeout)


def _high(consumer: Consumer, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    def ask() -> tuple[int, int]:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        return int(low), int(high)
    return _retrying(ask, timeout)


def probe(settings: Settings, purpose: str) -> Consumer:
    """A consumer for lookups by time and offset (it reads nothing itself)."""
    return clients.consumer(settings, purpose)
