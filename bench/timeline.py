"""Pure arithmetic of handovers: the worker's log lines about the partitions it owns and counts, and how long
a partition's figures stood still, from its checkpoints' `written_ms`. No I/O, so tests can pin it down."""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# faust's log format, the worker's lines from stream/worker/counter.py:
# [2026-12-01 22:23:14,259] [10517] [INFO] owning partitions [0, 1] (recovering [0, 1])
_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] \[\d+\] \[\w+\] "
                   r"(?:(owning|counting) partitions \[([\d, ]*)\]|partition (\d+) (recovered) in ([\d.]+)s: "
                   r".*?(\d+) ranges counted again)")


@dataclass(frozen=True)
class Line:
    ms: int  # the line's time, epoch ms (the log's local time, as the worker's clock wrote it)
    kind: str  # "owning": assigned these (recovering the new ones); "counting": reading these now;
    # "recovered": one partition taken over, in `seconds`, counting `ranges` checkpoint ranges again
    partitions: frozenset[int]
    seconds: float = 0.0
    ranges: int = 0


def parse_log(text: str) -> list[Line]:
    lines = []
    for raw in text.splitlines():
        found = _LINE.match(raw)
        if found is None:
            continue
        stamp, millis, kind, listed, partition, recovered, seconds, ranges = found.groups()
        ms = int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").timestamp()) * 1000 + int(millis)
        if recovered:
            lines.append(Line(ms, recovered, frozenset({int(partition)}), float(seconds), int(ranges)))
        else:
            lines.append(Line(ms, kind, frozenset(int(p) for p in listed.split(",") if p.strip())))
    return lines


def recoveries(lines: Sequence[Line], since_ms: int = 0) -> list[Line]:
    """The partitions taken over at or after `since_ms`, one "recovered" line each."""
    return [line for line in lines if line.kind == "recovered" and line.ms >= since_ms]


def joined_ms(lines: Sequence[Line], since_ms: int = 0) -> int | None:
    """When the worker was first assigned partitions at or after `since_ms` (its group join)."""
    return next((line.ms for line in lines if line.kind == "owning" and line.ms >= since_ms), None)


def owned(lines: Sequence[Line]) -> frozenset[int]:
    """The partitions of the worker's newest assignment."""
    return next((line.partitions for line in reversed(lines) if line.kind == "owning"), frozenset())


def ready_ms(lines: Sequence[Line], since_ms: int) -> int | None:
    """When the worker counted every partition of its newest assignment, if that came at or after
    `since_ms`: the first "counting" line after it that covers it; None while it has not."""
    last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].kind == "owning"), None)
    if last is None or lines[last].ms < since_ms:
        return None
    if not lines[last].partitions:
        return lines[last].ms
    return next((line.ms for line in lines[last + 1:]
                 if line.kind == "counting" and line.partitions >= lines[last].partitions), None)


def first_after(written: Sequence[int], ms: int) -> int | None:
    """The first of ascending `written` later than `ms`."""
    at = bisect.bisect_right(written, ms)
    return written[at] if at < len(written) else None


def standstill(written: Sequence[int], since_ms: int, until_ms: int) -> int | None:
    """The longest time between consecutive checkpoints of one partition (`written`: their written_ms,
    ascending) whose later one was written in (since_ms, until_ms]: how long its figures stood still."""
    longest = None
    for before, after in itertools.pairwise(written):
        if since_ms < after <= until_ms:
            longest = after - before if longest is None else max(longest, after - before)
    return longest
