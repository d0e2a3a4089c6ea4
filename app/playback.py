"""Playing a replay session back on the page: a clock over the day's event time, and a view folded from
the session's checkpoints up to where the clock stands.

A session holds, per input partition, a checkpoint cut each time its log time entered a new minute (and,
for a paced session, every fraction of a second). A checkpoint is shown once the clock passes the newest
order it holds (its `watermark`); at the end of the day every checkpoint is shown, the day's late events
included, so a played-out replay shows exactly the day's figures. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.core.clock import Clock
from stream.core.salesview import SalesView


@dataclass
class Tape:
    """A session's checkpoints as loaded so far: per partition, (watermark, record) in log order."""

    partitions: list[int]  # the input partitions that get checkpoints
    records: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)  # partition -> `end` of its last checkpoint here
    complete: bool = False  # every checkpoint of the session is here
    failed: str | None = None  # why the session can never complete

    def add(self, partition: int, raw: bytes) -> None:
        doc = orjson.loads(raw)  # the whole record, once: ~1 ms for a busy minute
        self.records.setdefault(partition, []).append((int(doc["watermark"]), raw))
        self.ends[partition] = int(doc["end"])

    def loaded_until(self, start_ms: int) -> int | None:
        """Event time up to which every partition is loaded; None once everything is."""
        if self.complete:
            return None
        marks = [self.records[p][-1][0] if self.records.get(p) else start_ms for p in self.partitions]
        return min(marks, default=start_ms)


class Player:
    """One viewer's replay: its own clock and its own view, folded forward as the clock moves."""

    def __init__(self, tape: Tape, day: str, start_ms: int, end_ms: int, speed: float | None, wall_s: float,
                 seconds_horizon_ms: int, grace_ms: int) -> None:
        self.tape = tape
        self.day = day
        self.clock = Clock(start_ms, end_ms, speed, wall_s)
        self._horizon, self._grace = seconds_horizon_ms, grace_ms
        self.view = SalesView(seconds_horizon_ms, grace_ms)
        self._next: dict[int, int] = {}  # partition -> index of its next checkpoint to fold
        self.shown_ms = start_ms  # the event time the view shows

    def advance(self, wall_s: float) -> bool:
        """Fold whatever the clock has passed; True if the view moved back (a snapshot is due)."""
        target = self.clock.now(wall_s)
        loaded = self.tape.loaded_until(self.clock.start_ms)
        if loaded is not None:
            target = min(target, loaded)  # never ahead of what is loaded: the figures would be short
        rewound = target < self.shown_ms
        if rewound:
            self.view = SalesView(self._horizon, self._grace)
            self._next = {}
        everything = target >= self.clock.end_ms and loaded is None
        for partition, records in list(self.tape.records.items()):
            first = index = self._next.get(partition, 0)
            stop = len(records)
            while index < stop and (everything or records[index][0] <= target):
                index += 1
            if index > first:
                # A jump (a seek, a fast speed) folds many checkpoints: as one, it costs one.
                self.view.apply(merged([raw for _, raw in records[first:index]], self._horizon))
            self._next[partition] = index
        self.shown_ms = target
        return rewound


def merged(raws: Sequence[bytes], seconds_horizon_ms: int) -> bytes:
    """One checkpoint that folds like `raws`, consecutive checkpoints of one partition, folded in order.

    Minutes, seconds, merchants and products are absolute and carried when touched: the newest value of
    each wins. Everything else (totals, breakdowns, the shopper sketch, offsets) is whole in every record:
    the last one's stands. The chain runs from the first record's `start` to the last one's `end`.
    Seconds older than the horizon before the last watermark are left out, as folding would drop them.
    """
    if len(raws) == 1:
        return raws[0]
    docs = [orjson.loads(raw) for raw in raws]
    minutes: dict[str, Any] = {}
    seconds: dict[str, Any] = {}
    days: dict[str, dict[str, Any]] = {}
    for doc in docs:
        minutes.update(doc["minutes"])
        seconds.update(doc["seconds"])
        for name, day in doc["days"].items():
            into = days.get(name)
            if into is None:
                days[name] = {**day, "merchants": dict(day["merchants"]), "products": dict(day["products"])}
            else:
                into["merchants"].update(day["merchants"])
                into["products"].update(day["products"])
                into.update({k: v for k, v in day.items() if k not in ("merchants", "products")})
    oldest = docs[-1]["watermark"] - seconds_horizon_ms
    recent = {s: t for s, t in seconds.items() if int(s) >= oldest}
    return orjson.dumps({**docs[-1], "start": docs[0]["start"], "minutes": minutes, "seconds": recent,
                         "days": days})
