"""Which partitions of `orders` nobody counts, from the broker's watermarks and the checkpoints folded.

A partition is uncounted when records past its newest checkpoint's end have waited longer than the
workers' session timeout with no checkpoint progress: a live owner publishes within a fraction of a
second, and a lost one is replaced within the session timeout. A partition never checkpointed (one just
added, one no worker owns) counts from its first offset. The offsets past a checkpoint's end may be
control records only (a transaction's commit marker takes an offset no record has), so a partition is
only called uncounted once the feed has found a record there (`confirm`); finding none `settle`s it.

No I/O and no clock of its own: the feed passes in what the broker said and the monotonic time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class PartitionCoverage:
    lag: int = 0  # offsets on the broker past what the checkpoints say is counted
    high: int = 0  # the broker's high watermark
    end: int | None = None  # the newest checkpoint's end: every input offset below it is counted
    waiting_since: float | None = None  # since when it has had lag without checkpoint progress
    settled_below: int = -1  # offsets below this were found to hold no record past `end`
    confirmed: bool = False  # a record past `end` was found: it waits for a counting owner


@dataclass(frozen=True)
class Suspect:
    """A partition lagging without progress for the timeout: does [start, stop) hold a record?"""

    partition: int
    start: int
    stop: int
    end: int | None  # the checkpoint end it was found with: an answer progress overtook is dropped


class Coverage:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.partitions: dict[int, PartitionCoverage] = {}

    def observe(self, now: float, marks: Mapping[int, tuple[int, int]],
                ends: Mapping[int, int | None]) -> None:
        """`marks`: every partition of `orders` as the broker reports it, (low, high) watermarks; `ends`:
        each partition's newest folded checkpoint end (missing or None: none yet)."""
        for partition in set(self.partitions) - set(marks):
            del self.partitions[partition]  # only what the broker reports now (a topic made anew)
        for partition, (low, high) in marks.items():
            seen = self.partitions.setdefault(partition, PartitionCoverage())
            end = ends.get(partition)
            if end != seen.end:  # progress: whatever waited before may have been counted
                seen.end, seen.waiting_since, seen.confirmed = end, None, False
            counted_to = max(low, 0) if end is None else max(low, end)
            seen.high = high
            seen.lag = 0 if high <= seen.settled_below else max(0, high - counted_to)
            if seen.lag == 0:
                seen.waiting_since, seen.confirmed = None, False
            elif seen.waiting_since is None:
                seen.waiting_since = now

    def suspects(self, now: float) -> list[Suspect]:
        """Partitions waiting longer than the timeout whose lag is not yet known to hold a record."""
        found = []
        for partition, seen in sorted(self.partitions.items()):
            if self._overdue(seen, now) and not seen.confirmed:
                found.append(Suspect(partition, seen.high - seen.lag, seen.high, seen.end))
        return found

    def confirm(self, suspect: Suspect) -> None:
        seen = self.partitions.get(suspect.partition)
        if seen is not None and seen.end == suspect.end:
            seen.confirmed = True

    def settle(self, suspect: Suspect) -> None:
        """Nothing but control records in the suspect's range: no lag until the partition grows past it."""
        seen = self.partitions.get(suspect.partition)
        if seen is not None and seen.end == suspect.end:
            seen.settled_below = suspect.stop
            seen.lag, seen.waiting_since, seen.confirmed = 0, None, False

    def uncounted(self, now: float) -> list[int]:
        """Partitions with records that have waited longer than the timeout for a counting owner."""
        return [p for p, seen in sorted(self.partitions.items())
                if seen.confirmed and self._overdue(seen, now)]

    def lags(self) -> dict[int, int]:
        return {partition: seen.lag for partition, seen in sorted(self.partitions.items())}

    def _overdue(self, seen: PartitionCoverage, now: float) -> bool:
        return seen.waiting_since is not None and now - seen.waiting_since > self.timeout_s
