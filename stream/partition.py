"""The worker's state for one input partition: counts each valid order once, into its event-time minute."""

from __future__ import annotations

from collections.abc import Iterable

from stream.dedupe import Dedupe
from stream.ledger import Checkpoint, PartitionLedger
from stream.orders import InvalidOrder, Order, parse_order
from stream.totals import Totals
from stream.windows import minute_start


class PartitionState:
    def __init__(self, ledger: PartitionLedger, dedupe_horizon_ms: int) -> None:
        self.ledger = ledger
        self.dedupe = Dedupe(dedupe_horizon_ms)
        self.duplicates = 0
        self._start = ledger.end  # None until the first offset is seen
        self._touched: set[int] = set()

    @property
    def partition(self) -> int:
        return self.ledger.partition

    def rebuild_dedupe(self, history: Iterable[tuple[int, bytes | None]], now_ms: int) -> None:
        """Replay already-counted input [dedupe_from, end) into the dedupe memory only."""
        for offset, raw in history:
            try:
                order = parse_order(raw, now_ms)
            except InvalidOrder:
                continue
            self.dedupe.first_time(order.event_id, order.occurred_at, offset)

    def apply(self, offset: int, raw: bytes | None, now_ms: int) -> Order | InvalidOrder | None:
        """Count one input message. Returns the order, the rejection, or None for an already-applied offset
        or a duplicate delivery."""
        end = self.ledger.end
        if end is not None and offset < end:
            return None
        if self._start is None:
            self._start = offset
        self.ledger.end = offset + 1
        try:
            order = parse_order(raw, now_ms)
        except InvalidOrder as rejection:
            rejected = self.ledger.rejected
            rejected[rejection.reason] = rejected.get(rejection.reason, 0) + 1
            return rejection
        if not self.dedupe.first_time(order.event_id, order.occurred_at, offset):
            self.duplicates += 1
            return None
        minute = minute_start(order.occurred_at)
        totals = self.ledger.minutes.get(minute)
        if totals is None:
            totals = self.ledger.minutes[minute] = Totals()
        totals.add(order)
        self._touched.add(minute)
        if order.occurred_at > self.ledger.watermark:
            self.ledger.watermark = order.occurred_at
        return order

    def checkpoint(self, now_ms: int) -> Checkpoint | None:
        """The record for everything applied since the last checkpoint; None if nothing new."""
        ledger = self.ledger
        if ledger.end is None or self._start is None or self._start == ledger.end:
            return None
        oldest = self.dedupe.oldest_offset
        record = Checkpoint(
            partition=ledger.partition, start=self._start, end=ledger.end,
            minutes={m: ledger.minutes[m].copy() for m in self._touched},
            rejected=dict(ledger.rejected), watermark=ledger.watermark,
            dedupe_from=ledger.end if oldest is None else oldest, written_ms=now_ms,
        )
        self._start = ledger.end
        self._touched.clear()
        ledger.written_ms = now_ms
        ledger.dedupe_from = record.dedupe_from
        return record
