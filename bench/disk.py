"""Log bytes on the bench broker's disk: its log.dirs holds one folder per topic-partition (`TOPIC-N`), and
a partition's records are its segment files (`*.log`); the index files are preallocated, so not counted."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

ENV = "BENCH_BROKER_LOGS"  # set by bench/__main__.py to the broker's log.dirs


def broker_logs() -> Path:
    where = os.environ.get(ENV)
    if not where:
        raise RuntimeError(f"{ENV} is not set: run the stage through `python -m bench`")
    return Path(where)


def topic_bytes(logs: Path, topic: str) -> int:
    """Bytes of `topic`'s segment files over all its partitions (a folder being deleted is not counted)."""
    total = 0
    for folder in logs.iterdir():
        name, _, partition = folder.name.rpartition("-")
        if name != topic or not partition.isdigit():
            continue
        for segment in folder.glob("*.log"):
            with contextlib.suppress(FileNotFoundError):  # a segment deleted by retention or compaction
                total += segment.stat().st_size
    return total


def sizes(logs: Path, topics: Iterable[str]) -> dict[str, int]:
    return {topic: topic_bytes(logs, topic) for topic in topics}
