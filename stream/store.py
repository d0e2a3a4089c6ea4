"""Reading what the workers published: each partition's newest snapshot, and the checkpoint chain after it.

The app (whole view), a recovering worker (one partition, tables included) and the audit read through
here, so all three start from the same snapshot and accept the same records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from stream.config import Settings
from stream.core.checkpoint import Unreadable, link
from stream.core.partition import Range
from stream.core.snapshot import PartitionSnapshot, SnapshotFold
from stream.kafka.reader import BEGINNING, END, Reader

log = logging.getLogger("salesdash.stream")


@contextmanager
def _reading(settings: Settings, purpose: str, reader: Reader | None) -> Iterator[Reader]:
    """The reader given (one consumer for several reads: a recovery makes three), or one of its own."""
    if reader is not None:
        yield reader
        return
    own = Reader.open(settings, purpose, missing_is_empty=True)
    try:
        yield own
    finally:
        own.close()


def read_snapshots(settings: Settings, partitions: list[int], with_tables: bool, reader: Reader | None = None
                   ) -> tuple[dict[int, PartitionSnapshot], int]:
    """The newest snapshot of each partition that has one, and how many records could not be read."""
    folds = {p: SnapshotFold(p) for p in partitions}
    topics = [settings.snapshots_topic, *([settings.state_topic] if with_tables else [])]
    with _reading(settings, "snapshots", reader) as source:
        keys = {(topic, p): BEGINNING for topic in topics for p in partitions}
        source.assign(keys, {key: END for key in keys})
        for message in source.records():
            folds[message.partition()].add(message.key(), message.value())
    found = {p: snap for p, fold in folds.items() if (snap := fold.result(with_tables)) is not None}
    return found, sum(fold.unreadable for fold in folds.values())


@dataclass
class Chain:
    """The checkpoints after a snapshot: the ranges a successor counts again, and where the log ended."""

    ranges: list[Range] = field(default_factory=list)
    end: int | None = None  # the chain's end: every input offset below it is published
    next_offset: int = 0  # the aggregates offset after the last record read
    unreadable: int = 0


def read_chain(settings: Settings, partition: int, start: int | None, aggregates_from: int,
               reader: Reader | None = None) -> Chain:
    """Follow partition's checkpoint chain from input offset `start` (None: from its first record),
    reading the aggregates topic from `aggregates_from` to its end."""
    chain = Chain(end=start)
    with _reading(settings, "chain", reader) as source:
        key = (settings.aggregates_topic, partition)
        source.assign({key: aggregates_from if aggregates_from >= 0 else BEGINNING}, {key: END})
        for message in source.records():
            chain.next_offset = message.offset() + 1
            try:
                found = link(message.value())  # the chain's fields only: the days are not needed here
            except Unreadable:
                chain.unreadable += 1
                continue
            if found.p != partition or (chain.end is not None and found.start != chain.end):
                continue  # older than the snapshot, or a record that does not continue the chain
            chain.ranges.append(Range(found.start, found.end, found.now, frozenset(found.skip)))
            chain.end = found.end
    if chain.unreadable:
        log.warning("partition %d: %d aggregates records could not be read and were skipped", partition,
                    chain.unreadable)
    return chain
