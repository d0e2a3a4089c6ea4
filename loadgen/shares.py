"""Whole-number shares of a total in proportion to weights (largest remainder), summing to the total."""

from __future__ import annotations


def apportion(weights: list[float], total: int) -> list[int]:
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: int(exact[i]) - exact[i])  # biggest rest first
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
