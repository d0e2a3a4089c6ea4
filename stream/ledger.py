"""Checkpoints: how the state of one input partition is published, recovered and read back.

The worker that owns input partition p publishes, after each batch, one checkpoint record to partition p
of the aggregates topic: the absolute totals of every minute that batch touched, plus the input offset
range [start, end) it covers. One record is one atomic write, so state and offset never disagree.

Readers (the app, and a worker recovering p after a crash or rebalance) fold the records in log order
and accept a record only if it continues the chain (`start` == the `end` already accepted). A record
written again after a crash, or by a worker that lost the partition, fails that rule and is ignored —
by every reader alike, so all agree on the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from stream.totals import Totals

VERSION = 1


@dataclass(slots=True)
class Checkpoint:
    partition: int
    start: int  # first input offset this record covers (the previous record's end)
    end: int  # every input offset below this is applied
    minutes: dict[int, Totals]  # minute start ms -> absolute totals of this partition
    rejected: dict[str, int]  # dead-lettered messages by reason, absolute for the partition
    watermark: int  # highest valid occurred_at seen in the partition
    dedupe_from: int  # input offset where rebuilding the dedupe memory starts
    written_ms: int  # wall clock at publication, for data age

    def encode(self) -> bytes:
        return orjson.dumps({
            "v": VERSION, "partition": self.partition, "start": self.start, "end": self.end,
            "minutes": {str(m): t.to_list() for m, t in self.minutes.items()},
            "rejected": self.rejected, "watermark": self.watermark, "dedupe_from": self.dedupe_from,
            "written_ms": self.written_ms,
        })

    @classmethod
    def decode(cls, raw: bytes) -> Checkpoint:
        doc = orjson.loads(raw)
        if doc.get("v") != VERSION:
            raise ValueError(f"unknown checkpoint version {doc.get('v')!r}")
        return cls(
            partition=doc["partition"], start=doc["start"], end=doc["end"],
            minutes={int(m): Totals.from_list(v) for m, v in doc["minutes"].items()},
            rejected=doc["rejected"], watermark=doc["watermark"], dedupe_from=doc["dedupe_from"],
            written_ms=doc["written_ms"],
        )


@dataclass
class PartitionLedger:
    """Everything accepted so far for one input partition."""

    partition: int
    minutes: dict[int, Totals] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    end: int | None = None  # None: nothing accepted yet
    watermark: int = 0
    dedupe_from: int | None = None
    written_ms: int = 0
    ignored: int = 0  # records that broke the chain

    def accept(self, checkpoint: Checkpoint) -> bool:
        if self.end is not None and checkpoint.start != self.end:
            self.ignored += 1
            return False
        self.minutes.update(checkpoint.minutes)
        self.rejected = dict(checkpoint.rejected)
        self.end = checkpoint.end
        self.watermark = checkpoint.watermark
        self.dedupe_from = checkpoint.dedupe_from
        self.written_ms = checkpoint.written_ms
        return True


def fold(partition: int, records: Iterable[bytes]) -> PartitionLedger:
    ledger = PartitionLedger(partition)
    for raw in records:
        ledger.accept(Checkpoint.decode(raw))
    return ledger
