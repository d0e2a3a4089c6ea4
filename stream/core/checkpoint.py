"""Checkpoints: how the state of one input partition is published, recovered and read back.

The worker that owns input partition p publishes, after each batch, one checkpoint record to partition p
of the aggregates topic: absolute figures for every second, minute and day the batch touched, plus the
input offset range [start, end) it covers. One record is one atomic write, so state and offset never
disagree.

Readers (the app, and a worker recovering p after a crash or rebalance) fold the records in log order
and accept a record only if it continues the chain (`start` == the `end` already accepted). A record
written again after a crash, or by a worker that lost the partition, fails that rule and is ignored —
by every reader alike, so all agree on the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.core.daysales import DaySales
from stream.core.totals import Totals

VERSION = 2


@dataclass(slots=True)
class Checkpoint:
    partition: int
    start: int  # first input offset this record covers (the previous record's end)
    end: int  # every input offset below this is applied
    minutes: dict[int, Totals]  # minute start ms -> absolute totals of this partition
    seconds: dict[int, Totals]  # second start ms -> absolute totals, recent seconds only
    days: dict[str, dict[str, Any]]  # YYYY-MM-DD -> DaySales.changes()
    rejected: dict[str, int]  # dead-lettered messages by reason, absolute for the partition
    late: int  # events that corrected an already final minute, absolute for the partition
    watermark: int  # highest valid occurred_at seen in the partition
    dedupe_from: int  # input offset where rebuilding the dedupe memory starts
    written_ms: int  # wall clock at publication, for data age

    def encode(self) -> bytes:
        return orjson.dumps({
            "v": VERSION, "partition": self.partition, "start": self.start, "end": self.end,
            "minutes": {str(m): t.to_list() for m, t in self.minutes.items()},
            "seconds": {str(s): t.to_list() for s, t in self.seconds.items()},
            "days": self.days, "rejected": self.rejected, "late": self.late, "watermark": self.watermark,
            "dedupe_from": self.dedupe_from, "written_ms": self.written_ms,
        })

    @classmethod
    def decode(cls, raw: bytes) -> Checkpoint:
        doc = orjson.loads(raw)
        if doc.get("v") != VERSION:
            raise ValueError(f"unknown checkpoint version {doc.get('v')!r}")
        return cls(
            partition=doc["partition"], start=doc["start"], end=doc["end"],
            minutes={int(m): Totals.from_list(v) for m, v in doc["minutes"].items()},
            seconds={int(s): Totals.from_list(v) for s, v in doc["seconds"].items()},
            days=doc["days"], rejected=doc["rejected"], late=doc["late"], watermark=doc["watermark"],
            dedupe_from=doc["dedupe_from"], written_ms=doc["written_ms"],
        )


@dataclass
class PartitionLedger:
    """Everything accepted so far for one input partition."""

    partition: int
    seconds_horizon_ms: int = 900_000
    minutes: dict[int, Totals] = field(default_factory=dict)
    seconds: dict[int, Totals] = field(default_factory=dict)
    days: dict[str, DaySales] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    late: int = 0
    end: int | None = None  # None: nothing accepted yet
    watermark: int = 0
    dedupe_from: int | None = None
    written_ms: int = 0

    def accept(self, checkpoint: Checkpoint) -> bool:
        if self.end is not None and checkpoint.start != self.end:
            return False
        self.minutes.update(checkpoint.minutes)
        self.seconds.update(checkpoint.seconds)
        for day, doc in checkpoint.days.items():
            sales = self.days.get(day)
            if sales is None:
                sales = self.days[day] = DaySales()
            sales.apply(doc)
        self.rejected = dict(checkpoint.rejected)
        self.late = checkpoint.late
        self.end = checkpoint.end
        self.watermark = checkpoint.watermark
        self.dedupe_from = checkpoint.dedupe_from
        self.written_ms = checkpoint.written_ms
        self.forget_old_seconds()
        return True

    def forget_old_seconds(self) -> None:
        oldest = self.watermark - self.seconds_horizon_ms
        if self.seconds and min(self.seconds) < oldest:
            self.seconds = {s: t for s, t in self.seconds.items() if s >= oldest}


def fold(partition: int, records: Iterable[bytes], seconds_horizon_ms: int = 900_000) -> PartitionLedger:
    ledger = PartitionLedger(partition, seconds_horizon_ms)
    for raw in records:
        ledger.accept(Checkpoint.decode(raw))
    return ledger
