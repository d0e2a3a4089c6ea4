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

from stream.config import Settings
from stream.core.dayreplay import Span
from stream.core.eventtime import DAY_MS, day_of, day_start
from stream.kafka import clients
from stream.kafka.reader import Reader

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


def _high(consumer: Consumer, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    def ask() -> tuple[int, int]:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
        return int(low), int(high)
    return _retrying(ask, timeout)


@dataclass(frozen=True)
class DayInLog:
    name: str  # YYYY-MM-DD
    records: int  # records between the day's first offset and the next day's, over all partitions


def days_in_log(consumer: Consumer, topic: str, now_ms: int, timeout: float = 10.0) -> list[DayInLog]:
    """The UTC days with at least one record stamped in them, oldest first.

    A day holds a record in a partition exactly when its first offset stamped at or after midnight comes
    before the first one stamped at or after the next midnight (everything before that one is stamped
    earlier). The search starts at the day of each partition's first record, less one day for late events.
    """
    numbers = partitions(consumer, topic, timeout)
    highs = {p: _high(consumer, topic, p, timeout)[1] for p in numbers}
    first = _first_stamps(consumer, topic, numbers, timeout)
    if not first:
        return []
    start = day_start(min(first) - DAY_MS)
    stop = day_start(now_ms) + DAY_MS

    def at(ms: int) -> dict[int, int]:
        return _offsets_at(consumer, topic, numbers, ms, highs, timeout)

    found: list[DayInLog] = []

    def search(lo: int, lo_offsets: dict[int, int], hi: int, hi_offsets: dict[int, int]) -> None:
        # Halving: a range whose two ends have the same offsets holds no record, whatever its length.
        records = sum(max(0, hi_offsets[p] - lo_offsets[p]) for p in numbers)
        if not records:
            return
        if hi - lo == DAY_MS:
            found.append(DayInLog(day_of(lo), records))
            return
        middle = lo + (hi - lo) // DAY_MS // 2 * DAY_MS
        middle_offsets = at(middle)
        search(lo, lo_offsets, middle, middle_offsets)
        search(middle, middle_offsets, hi, hi_offsets)

    search(start, at(start), stop, at(stop))
    return found


def _offsets_at(consumer: Consumer, topic: str, numbers: list[int], at_ms: int, highs: dict[int, int],
                timeout: float) -> dict[int, int]:
    """Per partition, the first offset stamped at or after `at_ms` (the end if none is)."""
    wanted = [TopicPartition(topic, p, at_ms) for p in numbers]
    found = _retrying(lambda: consumer.offsets_for_times(wanted, timeout=timeout), timeout)
    return {tp.partition: tp.offset if tp.offset >= 0 else highs[tp.partition] for tp in found}


def _first_stamps(consumer: Consumer, topic: str, numbers: list[int], timeout: float) -> list[int]:
    """The timestamp of each non-empty partition's first record."""
    starts = {}
    for p in numbers:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        if high > low:
            starts[(topic, p)] = low
    reader = Reader(consumer)
    reader.assign(starts, {key: low + 1 for key, low in starts.items()})
    stamps: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while not reader.done and time.monotonic() < deadline:
        for message in reader.take(len(starts), 0.2):
            stamps.setdefault(message.partition(), message.timestamp()[1])
    reader.unassign(set(starts))
    consumer.unassign()
    return list(stamps.values())


def probe(settings: Settings, purpose: str) -> Consumer:
    """A consumer for lookups by time and offset (it reads nothing itself)."""
    return clients.consumer(settings, purpose)
