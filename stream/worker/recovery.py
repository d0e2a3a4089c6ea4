"""Taking a partition over: claim it (fencing the previous owner), load its newest snapshot, and count the
published ranges after it again, so the state equals what its predecessor last published."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from stream.config import Settings
from stream.core.partition import PartitionState
from stream.core.routing import Homes
from stream.kafka.reader import BEGINNING, read_range
from stream.kafka.transactions import PartitionWriter
from stream.store import read_chain, read_snapshots

log = logging.getLogger("salesdash.stream")


class Cancelled(Exception):
    """The partition was revoked while it was being recovered."""


@dataclass
class Owned:
    """A partition this worker counts: its state, the writer that holds its claim, and publishing pace."""

    state: PartitionState
    writer: PartitionWriter
    first_publish: bool = True
    range_since: float | None = None  # monotonic time the oldest unpublished record was counted
    published_at: float = field(default_factory=time.monotonic)
    snapshot_at: float = field(default_factory=time.monotonic)
    snapshotted: bool = False  # a snapshot of this chain exists (else the next checkpoint takes one)


@dataclass
class Claim:
    """One recovery in flight: `cancel()` waits for a claim in progress, so no late claim can fence the
    partition's next owner."""

    partition: int
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def cancel(self) -> None:
        self.cancelled = True
        with self.lock:
            pass


def recover(settings: Settings, claim: Claim, homes: Homes, parked: Owned | None) -> Owned:
    """Claim the partition and rebuild its state; `parked`, what this worker held when it let the partition
    go, is reused if nobody published for it meanwhile."""
    p = claim.partition
    started = time.monotonic()
    with claim.lock:
        if claim.cancelled:
            raise Cancelled(p)
        if parked is not None:
            parked.writer.close()  # a producer claims once; the new one fences it (and anyone else)
        writer = PartitionWriter(settings, p, settings.aggregates_topic)
        writer.init()  # from here on no earlier owner can commit a record for p
    claimed = time.monotonic()
    if parked is not None and parked.state.end is not None:
        after = read_chain(settings, p, parked.state.end, parked.writer.checkpoint_offset + 1)
        if not after.ranges:
            writer.checkpoint_offset = max(parked.writer.checkpoint_offset, after.next_offset - 1)
            log.info("partition %d: nothing was published since this worker held it: kept in memory "
                     "(claimed in %.2fs)", p, claimed - started)
            return Owned(parked.state, writer, snapshotted=parked.snapshotted)
    found, unreadable = read_snapshots(settings, [p], with_tables=True)
    if claim.cancelled:
        raise Cancelled(p)
    loaded = time.monotonic()
    snapshot = found.get(p)
    if snapshot is not None:
        state = PartitionState.restore(snapshot, settings.rules, homes)
        chain = read_chain(settings, p, snapshot.state.end, snapshot.state.aggregates_from)
    else:
        state = PartitionState(p, settings.rules, homes)
        chain = read_chain(settings, p, None, BEGINNING)
    chained = time.monotonic()
    if chain.ranges:
        first = chain.ranges[0].start if state.end is None else state.end
        records = read_range(settings, settings.orders_topic, p, first, chain.ranges[-1].end)
        state.recount(chain.ranges, records)
    writer.checkpoint_offset = chain.next_offset - 1
    log.info("partition %d recovered in %.2fs (claim %.2f, snapshot %.2f, chain %.2f, recount %.2f): input "
             "applied below offset %s (%s, %d ranges counted again, %d unreadable records skipped)", p,
             time.monotonic() - started, claimed - started, loaded - claimed, chained - loaded,
             time.monotonic() - chained, state.end,
             "from a snapshot" if snapshot is not None else "no snapshot yet", len(chain.ranges),
             unreadable + chain.unreadable)
    return Owned(state, writer, snapshotted=snapshot is not None)
