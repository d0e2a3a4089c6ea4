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

from app.view import SalesView


@dataclass
class Clock:
    """Event time on a replay's clock: `speed` times the wall clock while playing; None plays at once."""

    start_ms: int
    end_ms: int
    speed: float | None
    since_s: float  # wall time (monotonic s) the clock last stood at `at_ms`
    playing: bool = True
    at_ms: int = 0

    def __post_init__(self) -> None:
        self.at_ms = self.start_ms

    def now(self, wall_s: float) -> int:
        if not self.playing:
            return self.at_ms
        if self.speed is None:
            return self.end_ms
        moved = int((wall_s - self.since_s) * 1000 * self.speed)
        return min(self.end_ms, self.at_ms + max(0, moved))

    def pause(self, wall_s: float) -> None:
        self.at_ms, self.since_s, self.playing = self.now(wall_s), wall_s, False

    def play(self, wall_s: float) -> None:
        if self.now(wall_s) >= self.end_ms:
            self.at_ms = self.start_ms  # play after the end starts over, as a media player does
        self.since_s, self.playing = wall_s, True

    def seek(self, to_ms: int, wall_s: float) -> None:
        self.at_ms, self.since_s = min(self.end_ms, max(self.start_ms, to_ms)), wall_s

    def set_speed(self, speed: float | None, wall_s: float) -> None:
        self.at_ms, self.since_s, self.speed = self.now(wall_s), wall_s, speed


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
        self._fold(target)
        if target >= self.clock.end_ms and loaded is None:
            # What is left holds orders past the day's end (its late events, and the next day's that
            # closed it): their watermark drags the seconds horizon past the day, which would empty its
            # last 15 minutes. Those stay as the day's end left them, corrected where still in the horizon.
            day_end = dict(self.view.seconds)
            self._fold(None)
            self.view.seconds = {**day_end, **self.view.seconds}
        self.shown_ms = target
        return rewound

    def _fold(self, target: int | None) -> None:
        """Fold each partition's checkpoints whose newest order is at or before `target`; None: all."""
        for partition, records in list(self.tape.records.items()):
            first = index = self._next.get(partition, 0)
            stop = len(records)
            while index < stop and (target is None or records[index][0] <= target):
                index += 1
            if index > first:
                # A jump (a seek, a fast speed) folds many checkpoints: as one, it costs one.
                self.view.apply(merged([raw for _, raw in records[first:index]], self._horizon))
            self._next[partition] = index


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
