"""Pure arithmetic of the history stage: bytes per second of load, ratios, and a measured figure projected
to a five-day weekend from two history lengths. No I/O, so tests can pin it down."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WEEKEND_S = 5 * 86_400  # Thanksgiving to Cyber Monday


def grown(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """Bytes each topic gained between two readings."""
    return {topic: after[topic] - before.get(topic, 0) for topic in after}


def ratio(part: float, whole: float) -> float:
    return part / whole if whole else float("inf")


def slope(x1: float, y1: float, x2: float, y2: float) -> float:
    """Change of y per unit of x through two points."""
    if x2 == x1:
        raise ValueError("two different history lengths are needed")
    return (y2 - y1) / (x2 - x1)


@dataclass(frozen=True)
class Trend:
    per_s: float  # change of the median per second of history
    noise: float  # the wider spread (max - min) of the repeated samples at either length
    grows: bool  # the median rose by more than the noise
    projected: float


def trend(x1: float, ys1: Sequence[float], x2: float, ys2: Sequence[float], at: float) -> Trend:
    """A time measured (repeatedly) at history lengths x1 < x2, projected to `at`: on the line through the
    medians if it rose by more than the samples' own spread, else the worst sample at x2 (a difference
    within the noise is no growth: extrapolated 1,000-fold it would be noise made huge)."""
    m1, m2 = statistics.median(ys1), statistics.median(ys2)
    noise = max(max(ys1) - min(ys1), max(ys2) - min(ys2))
    per_s = slope(x1, m1, x2, m2)
    grows = m2 - m1 > noise
    return Trend(per_s, noise, grows, m2 + per_s * (at - x2) if grows else max(ys2))


def held(bytes_per_s: float, seconds: float, retention_s: float | None = None) -> float:
    """Bytes on disk after `seconds` at a steady rate, for a topic whose records are deleted after
    `retention_s` (None: kept)."""
    return bytes_per_s * (seconds if retention_s is None else min(seconds, retention_s))


def per_partition_bound(rate: float, partitions: int, checkpoint_ms: int, checkpoint_records: int,
                        snapshot_every_s: int, snapshot_records: int) -> float:
    """The most checkpoint ranges a recovery counts again, whatever the history: one snapshot interval's
    worth. At `rate` orders/s a partition takes rate/partitions a second; it is checkpointed once its
    oldest record waited checkpoint_ms or checkpoint_records wait, and snapshotted every snapshot_every_s
    or snapshot_records, whichever comes first (stream/worker/counter.py)."""
    per_s = rate / partitions
    checkpoint_s = min(checkpoint_ms / 1000, checkpoint_records / per_s)
    snapshot_s = min(snapshot_every_s, snapshot_records / per_s)
    return snapshot_s / checkpoint_s


def at_bound(x1: float, y1: float, x2: float, y2: float, bound: float) -> float:
    """y at x = `bound` on the line through two points (y2 itself if the points share their x)."""
    return y2 if x1 == x2 else y2 + slope(x1, y1, x2, y2) * (bound - x2)
