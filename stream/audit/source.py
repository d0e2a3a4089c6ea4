"""The raw `orders` records a recount of one day is given, read with the project's one reader.

Per partition, from the first record the workers counted or tallied into the day (the day index the view
holds: no record timestamp decides) to its stop: the end of the checkpoint range in which the workers
closed the day there, else the end of the log as `locate` found it, and never past the offset up to which
the dashboard's view has folded the partition (the cut, so both sides count the same records, today
included). Where the day closes is the recount's to say (its watermark is the highest `occurred_at` of the
orders it counts), in the records up to the stop: nothing after it can change the day.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stream.audit.recount import Record
from stream.config import Settings
from stream.core.dayreplay import Span
from stream.core.daysales import Covered
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


def locate(settings: Settings, topic: str, day: Day, index: Mapping[int, Covered],
           cut: Mapping[int, int] | None = None, skip: Mapping[int, set[int]] | None = None,
           marks: Mapping[int, list[tuple[int, int]]] | None = None) -> DayRecords:
    """Where each partition's records of the day start and must stop, from the day `index` (the view's);
    NoOrders for an empty log. `cut`: partition -> the view's offset (everything below it is folded)."""
    partitions, spans = reading.locate(settings, topic, day, index)
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
    """One read of the day's records: which partitions are still read and when each is done. No I/O, so
    an in-memory log can be read the same way (tests)."""

    def __init__(self, source: DayRecords, partitions: set[int]) -> None:
        self.source = source
        self.taken = {p for p in partitions if p in source.open()}  # the partitions still read
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
        if source.next[partition] >= source.stops[partition]:
            self.taken.discard(partition)
            return False
        return True

    def ended(self, partition: int) -> None:
        """The partition reached its stop (control records may leave the offsets before it unread)."""
        self.source.next[partition] = max(self.source.next[partition], self.source.stops[partition])
        self.taken.discard(partition)


def read(settings: Settings, source: DayRecords, partitions: set[int],
         on_progress: Callable[[int], None] = lambda read: None) -> None:
    """Read `partitions` on to their stops."""
    reading = Round(source, partitions)
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
