"""Playing a replay session back on the page: a clock over the day's event time, and a view folded from
the session's checkpoints up to where the clock stands.

A session holds, per input partition, a checkpoint cut each time its log time entered a new minute (and,
for a paced session, every fraction of a second). A checkpoint is shown once the clock passes the newest
order it holds (its `watermark`); at the end of the day every checkpoint is shown, the day's late events
included, so a played-out replay shows exactly the day's figures. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.core.checkpoint import Checkpoint, merged
from stream.core.clock import Clock
from stream.core.rules import Rules
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
        checkpoint = Checkpoint.decode(raw)  # the whole record, once: ~1 ms for a busy minute
        self.records.setdefault(partition, []).append((checkpoint.watermark, raw))
        self.ends[partition] = checkpoint.end

    def loaded_until(self, start_ms: int) -> int | None:
        """Event time up to which every partition is loaded; None once everything is."""
        if self.complete:
            return None
        marks = [self.records[p][-1][0] if self.records.get(p) else start_ms for p in self.partitions]
        return min(marks, default=start_ms)


class Player:
    """One viewer's replay: its own clock and its own view, folded forward as the clock moves."""

    def __init__(self, tape: Tape, day: str, start_ms: int, end_ms: int, speed: float | None, wall_s: float,
                 rules: Rules) -> None:
        self.tape = tape
        self.day = day
        self.clock = Clock(start_ms, end_ms, speed, wall_s)
        self._rules = rules
        self.view = SalesView(rules)
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
            self.view = SalesView(self._rules)
            self._next = {}
        everything = target >= self.clock.end_ms and loaded is None
        for partition, records in list(self.tape.records.items()):
            first = index = self._next.get(partition, 0)
            stop = len(records)
            while index < stop and (everything or records[index][0] <= target):
                index += 1
            if index > first:
                # A jump (a seek, a fast speed) folds many checkpoints: as one, it costs one.
                span = [raw for _, raw in records[first:index]]
                self.view.apply(merged(span, self._rules.seconds_horizon_ms))
            self._next[partition] = index
        self.shown_ms = target
        return rewound
