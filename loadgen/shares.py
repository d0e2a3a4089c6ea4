"""Whole numbers in proportion to weights, summing to a total."""

from __future__ import annotations

import itertools


def apportion(weights: list[float], total: int) -> list[int]:
    """Shares by largest remainder: each within one of its exact share (slots among merchants)."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: int(exact[i]) - exact[i])  # biggest rest first
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def spread(weights: list[float], total: int) -> list[int]:
    """Counts along a sequence (events per second of a day) that follow the weights as a running total:
    the k-th item falls where the cumulative share passes k - 1/2, so a sparse total is spread evenly over
    the quiet stretches too instead of gathering where the weights peak."""
    scale = total / sum(weights)
    marks = [round(x * scale) for x in itertools.accumulate(weights)]
    marks[-1] = total  # no float drift at the end
    return [b - a for a, b in itertools.pairwise([0, *marks])]
