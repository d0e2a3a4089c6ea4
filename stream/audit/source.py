"""The raw `orders` records a recount of one day is given, read with the project's one reader.

Per partition (stream.audit.recount's docstring): from the first record stamped in the day
(`reading.locate`, by timestamp) until the day is closed there, or the log ends. Where the day closes is
the recount's to say (its watermark is the highest `occurred_at` of the orders it counts), so reading
goes in rounds: first up to and including the first record stamped at or after the day's close (the
earliest a valid order can close it), then, for a partition the recount still finds open, a growing
number of records more, until it closes or its stop is reached.

A stop is where reading must end whatever happens: the offset up to which the dashboard's view has
folded the partition (the cut, so both sides count the same records, today included), else the end of
the log as `locate` found it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stream.audit.recount import Record
from stream.config import Settings
from stream.core.dayreplay import Span
from stream.core.eventtime import Day
from stream.kafka.reader import Reader
from stream.replay import reading

TAKE = 10_000


@dataclass
class DayRecords:
    topic: str
    partitions: int  # of the topic
    homes: int  # the partitions merchants are homed on (reading.homes)
    records: list[Record] = field(default_factory=list)  # each partition's in offset order
    next: dict[int, int] = field(default_factory=dict)  # partition -> next offset to read
    stops: dict[int, int] = field(default_factory=dict)  # partition -> the offset reading ends before
    skip: Mapping[int, set[int]] = field(default_factory=dict)  # offsets the worker told a recount to pass
    marks: Mapping[int, list[tuple[int, int]]] = field(default_factory=dict)  # the chain's watermarks
    rounds: int = 0

    def marks_read(self) -> dict[int, list[tuple[int, int]]]:
        """The marks that stand among the records read: one past them says nothing of the records before
        it not read yet (in a partition with nothing to read, every mark stands)."""
        return {p: [(at, mark) for at, mark in found if p not in self.next or at <= self.next[p]]
                for p, found in self.marks.items()}

    def open(self) -> set[int]:
        """Partitions with records left before their stop."""
        return {p for p, stop in self.stops.items() if self.next[p] < stop}


def locate(settings: Settings, topic: str, day: Day, cut: Mapping[int, int] | None = None,
           skip: Mapping[int, set[int]] | None = None,
           marks: Mapping[int, list[tuple[int, int]]] | None = None) -> DayRecords:
    """Where each partition's records of the day start and must stop; NoOrders when nothing is stamped in
    the day or later. `cut`: partition -> the view's offset (everything below it is folded)."""
    partitions, spans = reading.locate(settings, topic, day)
    return plan(topic, partitions, spans, cut, skip, homes=reading.homes(settings, topic, partitions),
                marks=marks)


def plan(topic: str, partitions: int, spans: list[Span], cut: Mapping[int, int] | None = None,
         skip: Mapping[int, set[int]] | None = None, homes: int | None = None,
         marks: Mapping[int, list[tuple[int, int]]] | None = None) -> DayRecords:
    """Nothing read yet: each partition from its span's start to the cut, else to the span's stop."""
    source = DayRecords(topic, partitions, partitions if homes is None else homes, skip=skip or {},
                        marks=marks or {})
    for span in spans:
        stop = span.stop if cut is None or span.partition not in cut else min(span.stop, cut[span.partition])
        if stop > span.start:
            source.next[span.partition] = span.start
            source.stops[span.partition] = stop
    return source


class Round:
    """One round of reading: which partitions are still read and when each is done. No I/O, so an
    in-memory log can be read the same way (tests)."""

    def __init__(self, source: DayRecords, partitions: set[int], until_ms: int | None, most: int | None
                 ) -> None:
        self.source = source
        self.until_ms = until_ms
        self.most = most
        self.taken = {p: 0 for p in partitions if p in source.open()}  # the partitions still read
        if self.taken:
            source.rounds += 1

    def add(self, partition: int, offset: int, stamp: int, key: bytes | None, value: bytes | None,
            headers: tuple[tuple[str, bytes], ...] = ()) -> bool:
        """Keep one record read; False once its partition is done for this round (or was already)."""
        if partition not in self.taken:
            return False
        source = self.source
        source.next[partition] = offset + 1
        if offset not in source.skip.get(partition, ()):
            source.records.append(Record(partition, offset, stamp, key, value, headers))
        self.taken[partition] += 1
        if (self.until_ms is not None and stamp >= self.until_ms) or \
                (self.most is not None and self.taken[partition] >= self.most) or \
                source.next[partition] >= source.stops[partition]:
            del self.taken[partition]
            return False
        return True

    def ended(self, partition: int) -> None:
        """The partition reached its stop (control records may leave the offsets before it unread)."""
        self.source.next[partition] = max(self.source.next[partition], self.source.stops[partition])
        self.taken.pop(partition, None)


def read(settings: Settings, source: DayRecords, partitions: set[int], *, until_ms: int | None = None,
         most: int | None = None, on_progress: Callable[[int], None] = lambda read: None) -> None:
    """Read on in `partitions`: each up to and including its first record stamped at or after `until_ms`,
    or `most` records more, or its stop, whichever comes first."""
    reading = Round(source, partitions, until_ms, most)
    if not reading.taken:
        return
    topic = source.topic
    reader = Reader.open(settings, "audit")
    try:
        reader.assign({(topic, p): source.next[p] for p in reading.taken},
                      {(topic, p): source.stops[p] for p in reading.taken})
        while not reader.done:
            for message in reader.take(TAKE, 0.5):
                p = message.partition()
                if p in reading.taken and not reading.add(p, message.offset(), message.timestamp()[1],
                                                          message.key(), message.value(),
                                                          tuple(message.headers() or ())):
                    reader.unassign({(topic, p)})
            for _, p in reader.ended:
                reading.ended(p)
            on_progress(len(source.records))
    finally:
        reader.close()
