"""Reading a day's spans from Kafka into a DayReader.

The consumer has a throwaway group id, is assigned its partitions (never subscribes) and never commits:
no consumer group — the live workers' least of all — learns that a replay or an export ran.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from stream import daylog
from stream.config import Settings
from stream.daylog import Day, DayLogError, NoOrders, Span
from stream.dayreader import DayReader
from stream.kafka import client_config
from stream.pace import Pace

BATCH = 10_000
BUFFER_HIGH, BUFFER_LOW = 20_000, 5_000  # records waiting per partition while paced
SLACK_S = 0.005  # a record due this soon is fed now: no micro-sleeps
MAX_WAIT_S = 0.25  # longest pause between rounds, so a fetch or an end is never far behind


def consumer(settings: Settings, purpose: str = "replay") -> Consumer:
    return Consumer(client_config(settings, **{
        "group.id": f"salesdash-{purpose}-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",  # an import's records appear all at once, or not at all
        "auto.offset.reset": "earliest",
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "queued.max.messages.kbytes": 65_536,  # prefetch bound, as the worker's: memory stays flat
        "fetch.queue.backoff.ms": 20,  # a full queue pauses fetching this long (default 1 s: starves readers)
        "log_level": 0,  # failures surface as exceptions: one line, not a log spray
    }))


def locate(settings: Settings, topic: str, day: Day) -> tuple[int, list[Span]]:
    """The topic's partition count and the day's spans; NoOrders if nothing is stamped in it or later."""
    probe = consumer(settings, "locate")
    try:
        partitions = len(daylog.partitions(probe, topic))
        spans = daylog.spans(probe, topic, day.start_ms)
    finally:
        probe.close()
    if not spans:
        raise NoOrders(day.name, topic)
    return partitions, spans


def read(settings: Settings, topic: str, spans: list[Span], reader: DayReader,
         after_batch: Callable[[], None] = lambda: None) -> None:
    """Feed every span to `reader`, as fast as possible, until each partition is done; `after_batch()`
    runs after each fetched batch (progress, checkpoints)."""
    source = consumer(settings)
    try:
        source.assign([TopicPartition(topic, s.partition, s.start) for s in spans if s.size > 0])
        feed, done = reader.feed, set()
        while reader.open:
            for record in source.consume(BATCH, 0.5):
                error = record.error()
                if error is not None:
                    _check(error, topic, record.partition())
                    reader.finish(record.partition())  # the end as of now: at or past the span's stop
                elif not feed(record) and record.partition() not in done:
                    done.add(record.partition())
                    source.pause([TopicPartition(topic, record.partition())])  # fetch no more of it
            after_batch()
    finally:
        source.close()


def read_paced(settings: Settings, topic: str, spans: list[Span], reader: DayReader, start_ms: int,
               start_clock: Callable[[], Pace], before_wait: Callable[[float], None],
               after_batch: Callable[[], None]) -> None:
    """Feed every span to `reader`, each record once its timestamp is due on the replay clock.

    Records stamped before `start_ms` or after the day are fed at once (nothing to show while waiting for
    them; the record that closes the day may be stamped a year later). Once every partition has reached
    `start_ms`, `start_clock()` gives the clock (it may wait for the other readers). Each partition waits
    for its own next record, so one partition's pause never holds up another: fetched records wait in a
    buffer per partition, and a partition with a full buffer is not fetched until it drains.
    `before_wait(seconds)` runs before each pause, `after_batch()` after each round.
    """
    source = consumer(settings)
    buffers: dict[int, deque[Any]] = {s.partition: deque() for s in spans if s.size > 0}
    ended: set[int] = set()  # reached the end of the log: done once its buffer is fed
    held: set[int] = set()  # not fetched: its buffer is full, or it is done
    clock: Pace | None = None
    end_ms = reader.day.end_ms
    idle = False
    try:
        source.assign([TopicPartition(topic, s.partition, s.start) for s in spans if s.size > 0])
        while reader.open:
            for record in source.consume(BATCH, 0.05 if idle else 0):
                error = record.error()
                if error is not None:
                    _check(error, topic, record.partition())
                    ended.add(record.partition())
                else:
                    buffers[record.partition()].append(record)
            now = time.monotonic()
            horizon = start_ms - 1 if clock is None else clock.event_at(now + SLACK_S)
            fed = False
            for partition, buffer in buffers.items():
                while buffer and ((ts := buffer[0].timestamp()[1]) <= horizon or ts >= end_ms):
                    fed = True
                    if not reader.feed(buffer.popleft()):
                        buffer.clear()
                        _hold(source, topic, partition, held)
                if partition in ended and not buffer:
                    reader.finish(partition)
                if len(buffer) >= BUFFER_HIGH:
                    _hold(source, topic, partition, held)
                elif len(buffer) <= BUFFER_LOW and partition in held and partition in reader.stops:
                    held.discard(partition)
                    source.resume([TopicPartition(topic, partition)])
            idle = not fed
            if clock is None:
                if reader.open and all(buffers[p] for p in reader.stops):  # all open partitions at the start
                    clock = start_clock()
            elif not fed:
                heads = [buffer[0].timestamp()[1] for buffer in buffers.values() if buffer]  # all in the day
                if heads:
                    pause = min(clock.wall_at(min(heads)) - now, MAX_WAIT_S)
                    before_wait(pause)
                    time.sleep(max(0.0, pause))
                    idle = False
            after_batch()
    finally:
        source.close()


def _hold(source: Consumer, topic: str, partition: int, held: set[int]) -> None:
    if partition not in held:
        held.add(partition)
        source.pause([TopicPartition(topic, partition)])


def _check(error: KafkaError, topic: str, partition: int) -> None:
    if error.code() != KafkaError._PARTITION_EOF:
        raise DayLogError(f"reading {topic}/{partition}: {error.str()}")
