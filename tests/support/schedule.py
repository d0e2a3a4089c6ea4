"""The order test files start in: the longest first, so that with `-n 2 --dist loadfile` the two workers
finish together (longest-processing-time-first) instead of one of them starting the five-minute rolling
deploy last while the other sits idle.

tests/durations.json holds each file's seconds from a measured run (`python scripts/test_durations.py
JUNIT.xml` refreshes it); a file not in it counts UNKNOWN_S per test. Stale figures only cost balance:
every test still runs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"
UNKNOWN_S = 1.0


class Item(Protocol):
    nodeid: str


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def measured(path: Path = DURATIONS) -> dict[str, float]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


def longest_first(items: Sequence[Item], seconds: dict[str, float]) -> list[Item]:
    """`items` with whole files in descending expected time, each file's tests in their own order."""
    counts = Counter(file_of(item.nodeid) for item in items)  # a Counter keeps first-seen order

    def weight(name: str) -> float:
        return seconds.get(name, UNKNOWN_S * counts[name])

    files = sorted(counts, key=lambda n: -weight(n))  # stable: equal weights keep collection order
    order = {name: rank for rank, name in enumerate(files)}
    return sorted(items, key=lambda item: order[file_of(item.nodeid)])  # stable: a file keeps its order
