"""Idle partitions do not hold the clock: the watermark a quiet partition follows (docs/exactness.md §6).

A partition this worker owns is idle once it is caught up (its position is the end of its log) and has
counted no order for STREAM_IDLE_S: junk, duplicates and orders rerouted elsewhere cannot move its
watermark, so they do not keep it busy. An idle partition follows the lowest watermark of the busy
partitions of the whole group, as Flink's `withIdleness` leaves idle inputs out of the minimum: its days
then close and compact, and it never runs ahead of the slowest busy partition, so final minutes stay
where the busy ones put them. Once no partition is busy anywhere (the load stopped), every idle one
follows the highest watermark reached, as Flink does when all inputs are idle. The busy partitions are
this worker's own (in memory) and those of the other workers, learnt from their checkpoints
(stream/worker/peers.py): a peer's partition is busy while a checkpoint that counted (not a follow step)
moved its watermark within STREAM_IDLE_S. So a worker that owns only quiet partitions follows the others
too. The cost: one more consumer of the aggregates topic
per worker, reading the partitions other workers own from the end: at the default cadence (a checkpoint
each 250 ms per busy partition, 8 partitions) the whole topic carries about 18 KiB/s at the load
generator's default 50 orders/s and 50 KiB/s at 1,000 orders/s, and each worker reads the others' share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerMark:
    """What this worker knows of a partition another worker owns, from its checkpoints."""

    watermark: int
    moved_at: float | None = None  # monotonic time a counting checkpoint last moved it (None: not seen)


def seen(mark: PeerMark | None, watermark: int, step: bool, at: float) -> PeerMark:
    """The mark after one more checkpoint of the partition, read at `at`: moved only by counting that
    raised the watermark; a follow step (`step`), a leading part or a snapshot's checkpoint never do, and
    the first checkpoint read is a baseline (what moved it before is unknown)."""
    if mark is None:
        return PeerMark(watermark)
    if step or watermark <= mark.watermark:
        return PeerMark(watermark, mark.moved_at)
    return PeerMark(watermark, at)


def busy_peers(marks: Mapping[int, PeerMark], now: float, idle_s: float) -> dict[int, int]:
    """The watermarks of the peers' partitions whose counting moved them within `idle_s` of `now`."""
    return {partition: mark.watermark for partition, mark in marks.items()
            if mark.moved_at is not None and not is_idle(now - mark.moved_at, idle_s)}


def followed(watermarks: Mapping[int, int], idle: set[int], peers: Mapping[int, int] | None = None,
             known: Mapping[int, int] | None = None) -> int | None:
    """The watermark idle partitions follow: the lowest of this worker's others (`watermarks` less
    `idle`) and of the peers' busy ones (`peers`); None if one that is busy has counted nothing yet (its
    orders may be anywhere in time). With no busy partition anywhere (the load stopped), the highest any
    partition reached, this worker's or a peer's (`known`: every peer mark), as Flink's watermark valve
    emits the maximum once every input is idle: otherwise the partitions that never counted would hold
    the last day open until orders came again. None if nothing has counted."""
    busy = [mark for partition, mark in watermarks.items() if partition not in idle]
    busy += [mark for partition, mark in (peers or {}).items() if partition not in watermarks]
    if not busy:
        reached = [*watermarks.values(), *(m for p, m in (known or {}).items() if p not in watermarks)]
        highest = max(reached, default=0)
        return highest if highest > 0 else None
    lowest = min(busy)
    return lowest if lowest > 0 else None


def is_idle(quiet_s: float, idle_s: float) -> bool:
    """A caught-up partition that has counted no order for `quiet_s` is idle after `idle_s`."""
    return quiet_s >= idle_s
