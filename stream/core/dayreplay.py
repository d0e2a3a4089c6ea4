"""A day's records counted by the live core: each partition's records, in log order, through a
`PartitionState` of its own — the code the worker runs — so a replayed day has the live day's numbers.

Records of other days in the range go through the core as well (they move the watermark, as live), but
only records the core counts or tallies into the day are reported (their timestamps decide nothing). A
partition is done once its watermark closes the day (nothing later can count for it) or its span ends.
The clock that judges `future_time` is the record's own timestamp, the time it was stamped, so a day
replays the same whenever it is replayed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from stream.core.checkpoint import Checkpoint
from stream.core.eventtime import MINUTE_MS, Day
from stream.core.partition import PartitionState
from stream.core.record import LogRecord
from stream.core.routing import Homes
from stream.core.rules import Rules


@dataclass(frozen=True)
class Span:
    """Offsets of one partition to read for a day: from the first record the workers counted or tallied
    into the day (its day index), or the log's start, to where they closed the day or the end of the
    partition as the read began."""

    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start


class DayReplay:
    def __init__(self, day: Day, rules: Rules, spans: Iterable[Span], *, wall_ms: Callable[[], int],
                 partitions: int | None = None, cut_minutes: bool = False,
                 on_record: Callable[[Any], None] | None = None) -> None:
        self.day = day
        self.wall_ms = wall_ms  # the wall clock: written_ms of checkpoints, and `now` for unstamped records
        self.cut_minutes = cut_minutes  # a checkpoint per partition as its log time enters a new minute
        self.on_record = on_record  # called with each record of the day (export writes them)
        self.states: dict[int, PartitionState] = {}
        self.stops: dict[int, int] = {}  # open partitions: the offset each span ends at
        self.clock: dict[int, int] = {}  # newest record timestamp per partition: the replay's log time
        self.closed: set[int] = set()  # partitions whose watermark closed the day: nothing more can count
        for span in spans:
            if span.size > 0:
                # As live: a valid order found outside its merchant's partition counts where its copy is.
                homes = None if partitions is None else Homes(partitions)
                self.states[span.partition] = PartitionState(span.partition, rules, homes)
                self.stops[span.partition] = span.stop
                self.clock[span.partition] = 0
        self.ready: list[Checkpoint] = []
        self.read = 0  # records fed, every day
        self.day_records = 0  # records counted or tallied into the day, valid or not, and copies among them
        self.dead_letters: Counter[str] = Counter()  # the day's records the core rejected, by reason
        self.late = 0  # the day's events that corrected an already final minute

    @property
    def open(self) -> bool:
        return bool(self.stops)

    def feed(self, record: LogRecord) -> bool:
        """Count one record; False once its partition is done (then its later records are ignored)."""
        partition = record.partition()
        stop = self.stops.get(partition)
        if stop is None:
            return False
        offset = record.offset()
        kind, ts = record.timestamp()
        if ts > self.clock[partition]:
            if self.cut_minutes and ts // MINUTE_MS > self.clock[partition] // MINUTE_MS:
                self._cut(partition)  # before the record: the checkpoint is the state at the minute's start
            self.clock[partition] = ts
        state = self.states[partition]
        day = self.day
        sales = state.days.get(day.name)
        late = 0 if sales is None else sales.late
        duplicates = state.duplicates
        # future_time is judged by the record's own stamp: a day replays the same whenever it is replayed.
        applied = state.apply_batch((record,), ts if kind else self.wall_ms(), stamped=True)
        self.read += 1
        sales = state.days.get(day.name)
        # Of the day: counted or tallied into it by the core, or a copy while it is open.
        if sales is not None and (sales.last == offset or (state.duplicates != duplicates and
                                                           state.watermark < day.close_ms)):
            self.day_records += 1
            if applied.rejected:
                self.dead_letters[applied.rejected[0][1].reason] += 1
            elif sales.late != late:
                self.late += 1
            if self.on_record is not None:
                self.on_record(record)
        if state.watermark >= day.close_ms:
            self.closed.add(partition)
        if partition in self.closed or offset + 1 >= stop:
            del self.stops[partition]
            return False
        return True

    def finish(self, partition: int) -> None:
        """The partition has nothing more to read (the consumer reached its end)."""
        self.stops.pop(partition, None)

    def cut(self) -> list[Checkpoint]:
        """Checkpoints for everything counted since the last ones, with those already cut at minutes."""
        for partition in self.states:
            self._cut(partition)
        ready, self.ready = self.ready, []
        return ready

    def take(self) -> list[Checkpoint]:
        """The checkpoints cut at minute boundaries so far."""
        ready, self.ready = self.ready, []
        return ready

    def _cut(self, partition: int) -> None:
        record = self.states[partition].checkpoint(self.wall_ms())
        if record is not None:
            self.ready.append(record)

    def low_clock(self) -> int:
        """Log time every open partition has reached (of all partitions once none is open)."""
        clocks = [self.clock[p] for p in self.stops] or list(self.clock.values())
        return min(clocks, default=0)

    def stats(self) -> dict[str, Any]:
        return {"read": self.read, "day_records": self.day_records, "dead_letters": dict(self.dead_letters),
                "late": self.late, "ends": {p: s.end for p, s in self.states.items()},
                "closed": sorted(self.closed)}
