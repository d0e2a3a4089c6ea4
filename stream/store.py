"""Reading what the workers published: each partition's newest snapshot, and the checkpoint chain after it.

The app (whole view), a recovering worker (one partition, tables included) and the audit read through
here, so all three start from the same snapshot and accept the same records. `load_view` is what any app
shows, built the way the app builds it (`start_from_snapshots`, then `SalesView.accept` for each
checkpoint, then `close_days`): the audit and the report hold that against the raw records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from stream.config import Settings
from stream.core.checkpoint import Checkpoint, Unreadable, link
from stream.core.partition import Range
from stream.core.salesview import SalesView
from stream.core.snapshot import PartitionSnapshot, SnapshotFold
from stream.kafka.reader import BEGINNING, END, Key, Reader

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


def read_snapshots(settings: Settings, partitions: list[int], with_tables: bool, reader: Reader | None = None,
                   details: bool = False, stops: Mapping[Key, int] | None = None
                   ) -> tuple[dict[int, PartitionSnapshot], int]:
    """The newest snapshot of each partition that has one, and how many records could not be read.
    `details`: the merchants' details too (from the state topic), without the worker's other tables.
    `stops`: read each partition only up to this offset (0 where it has none), else to the end."""
    folds = {p: SnapshotFold(p, tables=with_tables) for p in partitions}
    topics = [settings.snapshots_topic, *([settings.state_topic] if with_tables or details else [])]
    with _reading(settings, "snapshots", reader) as source:
        keys = {(topic, p): BEGINNING for topic in topics for p in partitions}
        source.assign(keys, {key: END if stops is None else stops.get(key, 0) for key in keys})
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
            chain.ranges.append(Range.of(found))
            chain.end = found.end
    if chain.unreadable:
        log.warning("partition %d: %d aggregates records could not be read and were skipped", partition,
                    chain.unreadable)
    return chain


def start_from_snapshots(view: SalesView, partitions: list[int], found: dict[int, PartitionSnapshot]
                         ) -> dict[int, int]:
    """Start each partition of `view` from its snapshot in `found` (read_snapshots without tables); returns
    where to fold the aggregates topic on from, per partition (BEGINNING where there is none). No I/O: the
    app reads the snapshots in a thread and calls this in its event loop, where the view is read."""
    view.start(found, len(partitions))
    starts = {}
    for partition in partitions:
        snapshot = found.get(partition)
        start = snapshot.state.aggregates_from if snapshot is not None else BEGINNING
        starts[partition] = start if start >= 0 else BEGINNING
    view.close_days(len(partitions))
    return starts


@dataclass
class LoadedView:
    """The view as of the end of the aggregates log, and how the fold went."""

    view: SalesView
    # (topic, partition) -> the offset the snapshot and aggregates topics were read up to: load_view given
    # these folds the same view again, however the log has grown since
    ends: dict[Key, int] = field(default_factory=dict)
    snapshots: int = 0  # partitions started from a snapshot
    checkpoints: int = 0  # checkpoint records accepted
    unreadable: int = 0  # snapshot or aggregates records that could not be read (skipped)
    gaps: dict[int, int] = field(default_factory=dict)  # partition -> checkpoints past a gap in its chain
    skip: dict[int, set[int]] = field(default_factory=dict)  # input offsets a recount must pass over
    # input offset -> the watermark there, as the chain records it (snapshots, follow steps): an audit's
    # recount takes them as floors (stream.audit.recount)
    marks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


def load_view(settings: Settings, on_progress: Callable[[int], None] = lambda accepted: None,
              batch: int = 2000, ends: Mapping[Key, int] | None = None) -> LoadedView:
    """What any app process shows once it has caught up: every partition of the aggregates topic started
    from its newest snapshot, its checkpoints after that folded in log order to the end of the log as it
    stands, and the days closed everywhere compacted after each batch, as the app's feed does.
    `ends` (the `ends` of an earlier load): its partitions, each read only up to its offset there."""
    topic = settings.aggregates_topic
    loaded = LoadedView(SalesView(settings.rules))
    reader = Reader.open(settings, "view", missing_is_empty=True)
    try:
        partitions = reader.partitions(topic) if ends is None else sorted({p for t, p in ends if t == topic})
        found, loaded.unreadable = read_snapshots(settings, partitions, False, reader, stops=ends)
        loaded.snapshots = len(found)
        for partition, snapshot in found.items():
            loaded.marks[partition] = [(snapshot.state.end, snapshot.state.watermark)]
        starts = start_from_snapshots(loaded.view, partitions, found)
        keys = {(topic, p): start for p, start in starts.items()}
        reader.assign(keys, {key: END if ends is None else ends.get(key, 0) for key in keys})
        while not reader.done:
            messages = reader.take(batch, 1.0, eager=True)
            for message in messages:
                fold_record(loaded, message.value())
            if messages:
                loaded.view.close_days(len(partitions))
                on_progress(loaded.checkpoints)
        read = [(t, p) for t in (settings.snapshots_topic, topic) for p in partitions]
        # a partition missing from end_offsets was empty or missing: nothing of it was read
        loaded.ends = dict(ends) if ends is not None else {k: reader.end_offsets.get(k, 0) for k in read}
    finally:
        reader.close()
    return loaded


def fold_record(loaded: LoadedView, raw: bytes | None) -> None:
    """Fold one record of the aggregates topic into the view, as the app's feed does."""
    try:
        checkpoint = Checkpoint.decode(raw)
    except Unreadable:
        loaded.unreadable += 1
        return
    try:
        accepted = loaded.view.accept(checkpoint)
    except Exception:  # as the app's feed does: a record that breaks folding is skipped and counted
        log.exception("skipping a checkpoint of partition %d that could not be folded", checkpoint.partition)
        loaded.unreadable += 1
        return
    if accepted:
        loaded.checkpoints += 1
        if checkpoint.skip:
            loaded.skip.setdefault(checkpoint.partition, set()).update(checkpoint.skip)
        if checkpoint.follow is not None:
            loaded.marks.setdefault(checkpoint.partition, []).append((checkpoint.end, checkpoint.follow))
        return
    ledger = loaded.view.ledgers.get(checkpoint.partition)
    if ledger is not None and ledger.end is not None and checkpoint.start > ledger.end:
        # records are missing: the app would wait for a newer snapshot; a one-off read reports the gap
        loaded.gaps[checkpoint.partition] = loaded.gaps.get(checkpoint.partition, 0) + 1
