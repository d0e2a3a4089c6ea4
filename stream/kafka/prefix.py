"""What a job that writes a known sequence of records has already written: the log is the truth.

A job that writes the same records in the same order each time it runs (a seeded backfill, an import
of one archive), each partition's in order and without gaps (an idempotent or transactional producer),
leaves after SIGTERM or kill -9 a prefix of each partition's sequence in the log. Started again, it
goes through its sequence and passes over, per partition, as many records as the log holds, checking
that the last one passed over is the one in the log: then no record is written twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from stream.config import Settings
from stream.kafka import timeindex
from stream.kafka.reader import read_range


class NotAPrefix(Exception):
    """The log holds records that are not a prefix of the job's sequence; one line for the user."""


@dataclass(frozen=True)
class Held:
    count: int  # records of the job in the partition
    last: bytes | None  # the newest one's value


def held_records(settings: Settings, topic: str, first_ms: int) -> tuple[int, dict[int, Held]]:
    """The topic's partition count, and per partition the records stamped at or after `first_ms` (read
    committed: an aborted transaction's records are not held)."""
    probe = timeindex.probe(settings, "resume")
    try:
        partitions = len(timeindex.partitions(probe, topic))
        spans = timeindex.spans(probe, topic, first_ms)
    finally:
        probe.close()
    out = {}
    for span in spans:
        count, last = 0, None
        for record in read_range(settings, topic, span.partition, span.start, span.stop):
            count, last = count + 1, record.value()
        if count:
            out[span.partition] = Held(count, last)
    return partitions, out


class Prefix:
    """Goes along a job's sequence: `held(partition, value)` is True for a record the log already holds."""

    def __init__(self, held: dict[int, Held]) -> None:
        self.held = held
        self.left = {p: h.count for p, h in held.items() if h.count}
        self.passed = 0

    def holds(self, partition: int, value: bytes | None) -> bool:
        n = self.left.get(partition)
        if not n:
            return False
        self.passed += 1
        if n > 1:
            self.left[partition] = n - 1
            return True
        del self.left[partition]
        if value != self.held[partition].last:
            raise NotAPrefix(f"partition {partition} holds records this job did not write there")
        return True

    def check_complete(self) -> None:
        """After the sequence's last record: every record held was one of the job's."""
        if self.left:
            p, n = next(iter(self.left.items()))
            raise NotAPrefix(f"partition {p} holds {n:,} records more than this job writes there")
