"""The sales view an app process serves: every partition's checkpoints folded into per-minute totals."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from stream.ledger import Checkpoint, PartitionLedger
from stream.totals import Totals
from stream.windows import day_of, parse_day


class SalesView:
    def __init__(self) -> None:
        self.ledgers: dict[int, PartitionLedger] = {}
        self.minutes: dict[int, Totals] = {}  # minute start ms -> sum over partitions
        self.as_of_ms = 0  # when the newest checkpoint was written
        self.records = 0
        self._changed: set[int] = set()

    def apply(self, raw: bytes) -> bool:
        """Fold one checkpoint record; False if it broke its partition's chain and was ignored."""
        checkpoint = Checkpoint.decode(raw)
        self.records += 1
        ledger = self.ledgers.get(checkpoint.partition)
        if ledger is None:
            ledger = self.ledgers[checkpoint.partition] = PartitionLedger(checkpoint.partition)
        before = {m: ledger.minutes.get(m) for m in checkpoint.minutes}
        if not ledger.accept(checkpoint):
            return False
        for minute, totals in checkpoint.minutes.items():
            merged = self.minutes.get(minute)
            if merged is None:
                merged = self.minutes[minute] = Totals()
            old = before[minute]
            if old is not None:
                merged.subtract(old)
            merged.merge(totals)
            self._changed.add(minute)
        self.as_of_ms = max(self.as_of_ms, checkpoint.written_ms)
        return True

    def take_changes(self) -> dict[str, list[int]]:
        """Minutes changed since the last call, by UTC day."""
        by_day: dict[str, list[int]] = defaultdict(list)
        for minute in sorted(self._changed):
            by_day[day_of(minute)].append(minute)
        self._changed.clear()
        return dict(by_day)

    def rejected(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for ledger in self.ledgers.values():
            for reason, n in ledger.rejected.items():
                counts[reason] += n
        return dict(counts)

    def day_totals(self, day: str) -> Totals:
        start, end = parse_day(day)
        totals = Totals()
        for minute, t in self.minutes.items():
            if start <= minute < end:
                totals.merge(t)
        return totals

    def snapshot(self, day: str, minutes: list[int] | None = None) -> dict[str, Any]:
        """The day's totals and its minutes (all, or just `minutes`), in the /api/snapshot shape."""
        start, end = parse_day(day)
        if minutes is None:
            minutes = sorted(m for m in self.minutes if start <= m < end)
        return {
            "day": day,
            "as_of_ms": self.as_of_ms,
            "totals": self.day_totals(day).as_dict(),
            "minutes": [_minute(m, self.minutes[m]) for m in minutes],
            "dead_letters": self.rejected(),
        }


def _minute(start_ms: int, totals: Totals) -> dict[str, int]:
    return {"start_ms": start_ms, "orders": totals.orders, "gross_cents": totals.gross_cents,
            "refunds_cents": totals.refunds_cents}
