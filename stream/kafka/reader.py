"""The one consume loop: a consumer assigned partitions, each read from a start offset either to an end or
on and on, with one policy for the end of a partition and for errors.

- A partition given a stop is done at that offset, or at the end of the log when it is reached
  (`END`: the end as it stands then; committed records only, so control records and aborted
  transactions leave gaps in the offsets: never count on `offset + 1`).
- A partition given no stop is followed for as long as it stays assigned.
- The end of a partition is not an error. A missing topic is one (`ReadError`), unless the reader was
  told that a missing topic is simply empty. Any other fatal error raises `ReadError`; a passing one
  (a broker restarting, a leader moving) is retried by librdkafka and logged here once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from stream.config import Settings
from stream.kafka import clients

log = logging.getLogger("salesdash.kafka")
END = -1  # a stop meaning: the end of the partition as the reader reaches it
BEGINNING = OFFSET_BEGINNING  # a start meaning: the first offset the log still holds
Key = tuple[str, int]  # (topic, partition)
_MISSING = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION}


class Consumed(Protocol):
    """A data record as the reader hands it out: never an error event, so every accessor has a value."""

    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> tuple[int, int]: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...


class ReadError(RuntimeError):
    """A partition cannot be read; the message is one line for the user."""


class Reader:
    def __init__(self, consumer: Consumer, missing_is_empty: bool = False) -> None:
        self.consumer = consumer
        self.missing_is_empty = missing_is_empty
        self.stops: dict[Key, int] = {}  # partitions read to a stop, until they reach it
        self.following: set[Key] = set()  # partitions read on and on
        self.ended: set[Key] = set()  # partitions that reached their stop
        self.reached_end: set[Key] = set()  # partitions that have been read to the end of the log once
        self.end_offsets: dict[Key, int] = {}  # where each one's end was last seen, past control records
        self._warned: set[str] = set()

    @classmethod
    def open(cls, settings: Settings, purpose: str, missing_is_empty: bool = False, **options: Any) -> Reader:
        return cls(clients.consumer(settings, purpose, **options), missing_is_empty)

    @property
    def done(self) -> bool:
        """Every partition with a stop has reached it (and nothing is followed)."""
        return not self.stops and not self.following

    def assign(self, starts: Mapping[Key, int], stops: Mapping[Key, int] | None = None) -> None:
        """Add partitions: each from its start offset (OFFSET_BEGINNING etc. work too) to its stop (`END`
        for the end of the log), or followed if `stops` is None."""
        fresh = []
        firsts = self._firsts([key for key, start in starts.items() if start == BEGINNING])
        for key, start in starts.items():
            stop = None if stops is None else stops[key]
            if start == BEGINNING and key in firsts:
                start = firsts[key]
            elif start == BEGINNING:
                try:
                    start = self.watermarks(key)[0]
                except KafkaException as exc:
                    if exc.args[0].code() not in _MISSING:
                        raise
                    if not self.missing_is_empty:
                        raise ReadError(f"no topic {key[0]} on the broker") from None
                    self.reached_end.add(key)
                    if stop is not None:
                        self.ended.add(key)
                    continue
            if stop is not None and 0 <= stop <= start:
                self.ended.add(key)  # an empty range: nothing to read
                continue
            if stop is None:
                self.following.add(key)
            else:
                self.stops[key] = stop
            fresh.append(TopicPartition(key[0], key[1], start))
        if fresh:
            self.consumer.incremental_assign(fresh)

    def _firsts(self, keys: list[Key]) -> dict[Key, int]:
        """The first offset each partition holds, in one request for all (librdkafka's own lookup of
        OFFSET_BEGINNING costs ~0.5 s, a watermark request per partition adds up on a loaded machine);
        a partition the answer lacks is left to `watermarks`, which knows a missing topic."""
        if not keys:
            return {}
        try:
            answer = self.consumer.offsets_for_times([TopicPartition(t, p, BEGINNING) for t, p in keys],
                                                     timeout=10)
        except KafkaException:
            return {}
        return {(tp.topic, tp.partition): tp.offset for tp in answer if tp.error is None and tp.offset >= 0}

    def unassign(self, keys: set[Key]) -> None:
        assigned = [k for k in keys if k in self.following or k in self.stops]
        self.following -= keys
        for key in keys:
            self.stops.pop(key, None)
        if assigned:
            self.consumer.incremental_unassign([TopicPartition(t, p) for t, p in assigned])

    def seek(self, key: Key, offset: int) -> None:
        self.consumer.seek(TopicPartition(key[0], key[1], offset))

    def pause(self, keys: set[Key]) -> None:
        self.consumer.pause([TopicPartition(t, p) for t, p in keys])

    def resume(self, keys: set[Key]) -> None:
        self.consumer.resume([TopicPartition(t, p) for t, p in keys])

    def watermarks(self, key: Key, timeout: float = 10.0) -> tuple[int, int]:
        """(first offset held, next offset to be written) of a partition, asked of the broker; asked again
        while its leader is moving (a topic just created, a broker just lost)."""
        deadline = time.monotonic() + timeout
        refreshed = False
        while True:
            try:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(*key), timeout=timeout)
                return int(low), int(high)
            except KafkaException as exc:
                code = exc.args[0].code()
                if code in _MISSING and not refreshed:
                    # A partition added since this consumer last asked for metadata: asking learns it.
                    refreshed = True
                    if key[1] in self.partitions(key[0], timeout):
                        continue
                if code not in _MOVING or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def cached_watermarks(self, key: Key) -> tuple[int, int]:
        """The watermarks that came with the last fetch response: no request to the broker."""
        low, high = self.consumer.get_watermark_offsets(TopicPartition(*key), cached=True)
        return int(low), int(high)

    def topics(self, timeout: float = 10.0) -> set[str]:
        return set(self.consumer.list_topics(timeout=timeout).topics)

    def partitions(self, topic: str, timeout: float = 10.0) -> list[int]:
        """The topic's partitions; empty if it does not exist (yet)."""
        metadata = self.consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []
        return sorted(metadata.partitions)

    def take(self, most: int, timeout: float, eager: bool = False) -> list[Consumed]:
        """Up to `most` records of the assigned partitions, waiting at most `timeout` s for them. `eager`
        returns as soon as the first record is there, with what else has already arrived (consume()
        alone holds ready records until its timeout)."""
        if eager:
            first = self.consumer.poll(timeout)
            got = [] if first is None else [first, *self.consumer.consume(most - 1, 0)]
        else:
            got = self.consumer.consume(most, timeout)
        out: list[Consumed] = []
        for message in cast(list[Consumed], got):
            error = cast(Message, message).error()
            if error is None:
                key = (message.topic(), message.partition())
                stop = self.stops.get(key)
                if stop is None:
                    if key in self.following:
                        out.append(message)
                elif stop == END or message.offset() < stop:
                    out.append(message)
                    if stop != END and message.offset() + 1 >= stop:
                        self._end(key)
                else:
                    self._end(key)  # past the stop: it was reached between two records
            else:
                self._error(cast(Message, message), error)
        return out

    def records(self, timeout: float = 1.0, most: int = 10_000) -> Iterator[Consumed]:
        """Every record until each partition with a stop has reached it. Eager: consume() would wait out
        its whole timeout for a full batch, once per call, however little is left to read."""
        while not self.done:
            yield from self.take(most, timeout, eager=True)

    def close(self) -> None:
        self.consumer.close()

    def _end(self, key: Key) -> None:
        if self.stops.pop(key, None) is not None:
            self.ended.add(key)
            self.consumer.pause([TopicPartition(*key)])  # fetch no more of it

    def _error(self, message: Message, error: KafkaError) -> None:
        code = error.code()
        key = (message.topic() or "", message.partition() or 0)
        if code == KafkaError._PARTITION_EOF:
            self.reached_end.add(key)
            offset = message.offset()
            if offset is not None:
                self.end_offsets[key] = offset
            if key in self.stops:
                self._end(key)
        elif code in _MISSING and message.topic() is not None:
            if not self.missing_is_empty:
                raise ReadError(f"no topic {message.topic()} on the broker")
            self.reached_end.add(key)
            self.following.discard(key)
            if self.stops.pop(key, None) is not None:
                self.ended.add(key)
        elif error.fatal() or (not error.retriable() and code not in _PASSING):
            where = f"{message.topic()}/{message.partition()}" if message.topic() else "Kafka"
            raise ReadError(f"reading {where}: {error.str()}")
        elif error.str() not in self._warned:
            self._warned.add(error.str())
            log.warning("reading %s: %s (retrying)", message.topic() or "Kafka", error.str())


_MOVING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError._TIMED_OUT,
           KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT}
# Errors librdkafka recovers from by itself although it does not call them retriable.
_PASSING = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._MSG_TIMED_OUT,
            KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
            KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT}


def read_range(settings: Settings, topic: str, partition: int, start: int, stop: int = END
               ) -> Iterator[Consumed]:
    """The records of one partition from `start` (OFFSET_BEGINNING for the beginning) to `stop`."""
    reader = Reader.open(settings, "range", missing_is_empty=True)
    try:
        reader.assign({(topic, partition): start}, {(topic, partition): stop})
        yield from reader.records()
    finally:
        reader.close()


def last_value(settings: Settings, topic: str, partition: int) -> bytes | None:
    """The value of a partition's newest record (None if it has none)."""
    reader = Reader.open(settings, "last", missing_is_empty=True)
    try:
        low, high = reader.watermarks((topic, partition), timeout=30)
        value = None
        if high > low:
            reader.assign({(topic, partition): high - 1}, {(topic, partition): END})
            for message in reader.records():
                value = message.value()
        return value
    finally:
        reader.close()
