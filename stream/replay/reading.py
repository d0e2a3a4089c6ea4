"""Reading a day's spans from Kafka into a DayReplay, as fast as possible or paced by a replay clock.

The consumer has a throwaway group id, is assigned its partitions (never subscribes) and never commits:
no consumer group — the live workers' least of all — learns that a replay or an export ran.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from stream.config import Settings
from stream.core.clock import Clock
from stream.core.dayreplay import DayReplay, Span
from stream.core.daysales import Covered
from stream.core.eventtime import Day
from stream.kafka import timeindex
from stream.kafka.reader import Reader
from stream.kafka.timeindex import NoOrders
from stream.store import load_view

BATCH = 10_000
BUFFER_HIGH, BUFFER_LOW = 20_000, 5_000  # records waiting per partition while paced
SLACK_S = 0.005  # a record due this soon is fed now: no micro-sleeps
MAX_WAIT_S = 0.25  # longest pause between rounds, so a fetch or an end is never far behind


def locate(settings: Settings, topic: str, day: Day, index: Mapping[int, Covered] | None = None
           ) -> tuple[int, list[Span]]:
    """The topic's partition count and the day's spans. No record timestamp decides: for the topic the
    workers count, from the day index they published (per partition, the first input offset counted or
    tallied into the day) to where they closed the day, or the end of the log while it is open; for any
    other topic (an imported day), or a day no worker has counted yet, every record of the log (more is
    fine: the replay's own core finds the day's). `index` as the view gives it (stream.store.load_view,
    read when None); NoOrders for an empty log."""
    probe = timeindex.probe(settings, "locate")
    try:
        numbers = timeindex.partitions(probe, topic)
        if index is None and topic == settings.orders_topic:
            index = load_view(settings).view.index(day.name)
        if topic != settings.orders_topic or not index:
            spans = [Span(p, *timeindex.ends(probe, topic, p)) for p in numbers]
        else:
            highs = {p: timeindex.ends(probe, topic, p)[1] for p in index}
            spans = [Span(p, c.first, highs[p] if c.stop is None else min(highs[p], c.stop))
                     for p, c in sorted(index.items())]
    finally:
        probe.close()
    spans = [span for span in spans if span.size > 0]
    if not spans:
        raise NoOrders(day.name, topic)
    return len(numbers), spans


def homes(settings: Settings, topic: str, partitions: int) -> int:
    """How many partitions merchants are homed on in `topic` (its `partitions`): the live orders topic
    keeps ORDERS_PARTITIONS however far it was grown, as the workers count it; any other topic (a day
    imported into a topic of its own) is homed on all of its partitions."""
    return min(partitions, settings.orders_partitions) if topic == settings.orders_topic else partitions


def read(settings: Settings, topic: str, spans: list[Span], replay: DayReplay,
         after_batch: Callable[[], None] = lambda: None) -> None:
    """Feed every span to `replay`, as fast as possible, until each partition is done; `after_batch()`
    runs after each fetched batch (progress, checkpoints)."""
    source = _open(settings, topic, spans)
    try:
        feed, finished = replay.feed, set[tuple[str, int]]()
        while replay.open:
            for record in source.take(BATCH, 0.5):
                if not feed(record):
                    source.pause({(topic, record.partition())})  # done: fetch no more of it
            for _, partition in source.ended - finished:
                replay.finish(partition)  # the end of its span, or of the log as of now
            finished |= source.ended
            after_batch()
    finally:
        source.close()


def read_paced(settings: Settings, topic: str, spans: list[Span], replay: DayReplay, start_ms: int,
               start_clock: Callable[[], Clock], before_wait: Callable[[float], None],
               after_batch: Callable[[], None]) -> None:
    """Feed every span to `replay`, each record once its timestamp is due on the replay clock.

    Records stamped before `start_ms` or after the day are fed at once (nothing to show while waiting for
    them; the record that closes the day may be stamped a year later). Once every partition has reached
    `start_ms`, `start_clock()` gives the clock (it may wait for the other readers). Each partition waits
    for its own next record, so one partition's pause never holds up another: fetched records wait in a
    buffer per partition, and a partition with a full buffer is not fetched until it drains.
    `before_wait(seconds)` runs before each pause, `after_batch()` after each round.
    """
    source = _open(settings, topic, spans)
    buffers: dict[int, deque[Any]] = {s.partition: deque() for s in spans if s.size > 0}
    ended: set[int] = set()  # reached the end of the log: done once its buffer is fed
    held: set[int] = set()  # not fetched: its buffer is full, or it is done
    clock: Clock | None = None
    end_ms = replay.day.end_ms
    idle = False
    try:
        while replay.open:
            for record in source.take(BATCH, 0.05 if idle else 0):
                buffers[record.partition()].append(record)
            ended.update(partition for _, partition in source.ended)
            now = time.monotonic()
            horizon = start_ms - 1 if clock is None else clock.event_at(now + SLACK_S)
            fed = False
            for partition, buffer in buffers.items():
                while buffer and ((ts := buffer[0].timestamp()[1]) <= horizon or ts >= end_ms):
                    fed = True
                    if not replay.feed(buffer.popleft()):
                        buffer.clear()
                        _hold(source, topic, partition, held)
                if partition in ended and not buffer:
                    replay.finish(partition)
                if len(buffer) >= BUFFER_HIGH:
                    _hold(source, topic, partition, held)
                elif len(buffer) <= BUFFER_LOW and partition in held and partition in replay.stops:
                    held.discard(partition)
                    source.resume({(topic, partition)})
            idle = not fed
            if clock is None:
                if replay.open and all(buffers[p] for p in replay.stops):  # all open partitions at the start
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


def _open(settings: Settings, topic: str, spans: list[Span]) -> Reader:
    source = Reader.open(settings, "replay")
    source.assign({(topic, s.partition): s.start for s in spans if s.size > 0},
                  {(topic, s.partition): s.stop for s in spans if s.size > 0})
    return source


def _hold(source: Reader, topic: str, partition: int, held: set[int]) -> None:
    if partition not in held:
        held.add(partition)
        source.pause({(topic, partition)})
