"""Pure arithmetic of the benchmarks: percentiles, which update first included each order, memory trends,
and the top of a sampled profile. No I/O, so tests can pin it down."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# (receive time ms, {input partition: offset everything below which the update includes})
Update = tuple[float, dict[int, int]]


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..1); NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Summary:
    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @staticmethod
    def of(values: Iterable[float]) -> Summary:
        ordered = sorted(values)
        return Summary(len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.95),
                       percentile(ordered, 0.99), ordered[-1] if ordered else math.nan)


def inclusion_latencies(created: Mapping[int, Sequence[tuple[int, float]]], updates: Sequence[Update]
                        ) -> tuple[list[float], int]:
    """For each order — `created[partition]` is (offset, creation ms) ascending by offset — the time from
    its creation to the first update, in receive order, whose offset for its partition is past it.
    Returns (latencies ms, orders no update included)."""
    latencies: list[float] = []
    missing = 0
    for partition, orders in created.items():
        # The first time each end was reached: ends only grow, so this is ascending in both.
        reached = [(at, ends[partition]) for at, ends in updates if partition in ends]
        i = 0
        for offset, created_ms in orders:
            while i < len(reached) and reached[i][1] <= offset:
                i += 1
            if i == len(reached):
                missing += 1
            else:
                latencies.append(reached[i][0] - created_ms)
    return latencies, missing


@dataclass(frozen=True)
class Trend:
    start: float
    peak: float
    end: float
    slope_per_min: float  # least-squares slope over the second half of the run
    growing: bool

    @property
    def word(self) -> str:
        return "growing" if self.growing else "flat"


def trend(samples: Sequence[tuple[float, float]], tolerance: float = 0.05, floor: float = 4.0) -> Trend:
    """(seconds, MiB) samples -> start/peak/end and whether memory still climbs once warm: the fitted rise
    over the second half must stay under `tolerance` of its level and under `floor` MiB to be flat."""
    if not samples:
        raise ValueError("no samples")
    values = [v for _, v in samples]
    half = samples[len(samples) // 2:]
    slope = _slope(half)
    span_min = (half[-1][0] - half[0][0]) / 60 if len(half) > 1 else 0.0
    rise = slope * span_min
    level = sum(v for _, v in half) / len(half)
    return Trend(values[0], max(values), values[-1], slope,
                 growing=rise > max(floor, tolerance * level))


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """MiB per minute of the least-squares line through (seconds, MiB)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60


def profile_top(collapsed: str, rows: int = 15) -> tuple[int, list[tuple[str, float, float]]]:
    """py-spy's raw (collapsed) output -> (samples, [(frame, self share, inclusive share)]) by self share:
    where the samples were, and what they were under."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            under[frame] += n
    if not total:
        return 0, []
    return total, [(frame, n / total, under[frame] / total) for frame, n in own.most_common(rows)]
