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
from stream.kafka.reader import BEGINNING, Reader
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
    quiet_since: float = field(default_factory=time.monotonic)  # monotonic time it last counted an order
    followed_at: float = 0.0  # monotonic time of its last follow step


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
    claimed: list[PartitionWriter | BaseException] = []
    # The claim and the snapshot's read run together: only the chain must be read after the claim (a
    # checkpoint committed before it is in the chain; none can be committed after it but ours).
    claiming = threading.Thread(target=_claim, args=(settings, claim, parked, claimed), daemon=True)
    claiming.start()
    reader = Reader.open(settings, "recovery", missing_is_empty=True)
    try:
        found, unreadable = ({}, 0) if parked is not None else \
            read_snapshots(settings, [p], with_tables=True, reader=reader)
        claiming.join()
        if isinstance(claimed[0], BaseException):
            raise claimed[0]
        writer = claimed[0]
        loaded = time.monotonic()
        if parked is not None and parked.state.end is not None:
            after = read_chain(settings, p, parked.state.end, parked.writer.checkpoint_offset + 1, reader)
            if not after.ranges:
                writer.checkpoint_offset = max(parked.writer.checkpoint_offset, after.next_offset - 1)
                log.info("partition %d: nothing was published since this worker held it: kept in memory "
                         "(claimed in %.2fs)", p, loaded - started)
                return Owned(parked.state, writer, snapshotted=parked.snapshotted)
            found, unreadable = read_snapshots(settings, [p], with_tables=True, reader=reader)
        if claim.cancelled:
            raise Cancelled(p)
        snapshot = found.get(p)
        if snapshot is not None:
            state = PartitionState.restore(snapshot, settings.rules, homes)
            chain = read_chain(settings, p, snapshot.state.end, snapshot.state.aggregates_from, reader)
        else:
            state = PartitionState(p, settings.rules, homes)
            chain = read_chain(settings, p, None, BEGINNING, reader)
        chained = time.monotonic()
        if chain.ranges:
            first = chain.ranges[0].start if state.end is None else state.end
            key = (settings.orders_topic, p)
            reader.assign({key: first}, {key: chain.ranges[-1].end})
            state.recount(chain.ranges, reader.records())
    finally:
        reader.close()
    writer.checkpoint_offset = chain.next_offset - 1
    log.info("partition %d recovered in %.2fs (claim and snapshot %.2f, chain %.2f, recount %.2f): input "
             "applied below offset %s (%s, %d ranges counted again, %d unreadable records skipped)", p,
             time.monotonic() - started, loaded - started, chained - loaded, time.monotonic() - chained,
             state.end, "from a snapshot" if snapshot is not None else "no snapshot yet", len(chain.ranges),
             unreadable + chain.unreadable)
    return Owned(state, writer, snapshotted=snapshot is not None)


def _claim(settings: Settings, claim: Claim, parked: Owned | None,
           out: list[PartitionWriter | BaseException]) -> None:
    try:
        with claim.lock:
            if claim.cancelled:
                raise Cancelled(claim.partition)
            if parked is not None:
                parked.writer.close()  # a producer claims once; the new one fences it (and anyone else)
            writer = PartitionWriter(settings, claim.partition, settings.aggregates_topic)
            writer.init()  # from here on no earlier owner can commit a record for the partition
        out.append(writer)
    except BaseException as exc:
        out.append(exc)
