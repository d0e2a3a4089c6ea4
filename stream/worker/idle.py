"""Idle partitions do not hold the clock: the watermark a quiet partition follows (docs/exactness.md §6).

A partition this worker owns is idle once it is caught up (its position is the end of its log) and has
counted no order for STREAM_IDLE_S: junk, duplicates and orders rerouted elsewhere cannot move its
watermark, so they do not keep it busy. An idle partition follows the lowest watermark of the partitions this
worker owns that are not idle, as Flink's `withIdleness` leaves idle inputs out of the minimum: its days
then close and compact, and it never runs ahead of the slowest busy partition, so final minutes stay
where the busy ones put them. A worker that owns only quiet partitions has nothing to follow and holds
them until it owns a busy one again.
"""

from __future__ import annotations

from collections.abc import Mapping


def followed(watermarks: Mapping[int, int], idle: set[int]) -> int | None:
    """The watermark idle partitions follow: the lowest of the others; None if every partition is idle
    or one that is not has counted nothing yet (its orders may be anywhere in time)."""
    busy = [mark for partition, mark in watermarks.items() if partition not in idle]
    lowest = min(busy, default=0)
    return lowest if lowest > 0 else None


def is_idle(quiet_s: float, idle_s: float) -> bool:
    """A caught-up partition that has counted no order for `quiet_s` is idle after `idle_s`."""
    return quiet_s >= idle_s
