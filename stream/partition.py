"""The worker's state for one input partition: counts each valid order once, in its own event time."""

from __future__ import annotations

from collections.abc import Iterable

from stream.config import Rules
from stream.day import DaySales
from stream.dedupe import Dedupe
from stream.ledger import Checkpoint, PartitionLedger
from stream.orders import ORDER_REFUNDED, InvalidOrder, Order, parse_order
from stream.totals import Totals
from stream.windows import (
    DAY_MS,
    day_is_closed,
    day_of,
    minute_is_final,
    minute_start,
    parse_day,
    second_start,
)


class PartitionState:
    def __init__(self, ledger: PartitionLedger, rules: Rules) -> None:
        self.ledger = ledger
        self.rules = rules
        self.dedupe = Dedupe(rules.dedupe_horizon_ms)
        self.dedupe.watermark = ledger.watermark
        self.duplicates = 0
        self._start = ledger.end  # None until the first offset is seen
        self._minutes: set[int] = set()
        self._seconds: set[int] = set()
        self._days: set[str] = set()

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
        ledger = self.ledger
        end = ledger.end
        if end is not None and offset < end:
            return None
        if self._start is None:
            self._start = offset
        ledger.end = offset + 1
        try:
            order = parse_order(raw, now_ms)
            ts = order.occurred_at
            watermark = ledger.watermark
            if day_is_closed(ts, watermark, self.rules.allowed_lateness_ms):
                raise InvalidOrder("too_late", f"occurred_at {ts} is in {day_of(ts)}, which closed at "
                                               f"watermark {watermark}")
        except InvalidOrder as rejection:
            ledger.rejected[rejection.reason] = ledger.rejected.get(rejection.reason, 0) + 1
            return rejection
        if not self.dedupe.first_time(order.event_id, ts, offset):
            self.duplicates += 1
            return None
        refund, cents = order.type == ORDER_REFUNDED, order.usd_cents
        minute = minute_start(ts)
        _bucket(ledger.minutes, minute).count(refund, cents)
        self._minutes.add(minute)
        if minute_is_final(minute, watermark, self.rules.grace_ms):
            ledger.late += 1  # a correction: the minute was already shown as final
        second = second_start(ts)
        if second >= watermark - self.rules.seconds_horizon_ms:
            _bucket(ledger.seconds, second).count(refund, cents)
            self._seconds.add(second)
        day = day_of(ts)
        sales = ledger.days.get(day)
        if sales is None:
            sales = ledger.days[day] = DaySales()
        sales.add(order, refund)
        self._days.add(day)
        if ts > watermark:
            ledger.watermark = ts
        return order

    def checkpoint(self, now_ms: int) -> Checkpoint | None:
        """The record for everything applied since the last checkpoint; None if nothing new."""
        ledger = self.ledger
        if ledger.end is None or self._start is None or self._start == ledger.end:
            return None
        ledger.forget_old_seconds()
        oldest = self.dedupe.oldest_offset
        record = Checkpoint(
            partition=ledger.partition, start=self._start, end=ledger.end,
            minutes={m: ledger.minutes[m].copy() for m in self._minutes},
            seconds={s: ledger.seconds[s].copy() for s in self._seconds if s in ledger.seconds},
            days={d: ledger.days[d].changes() for d in self._days},
            rejected=dict(ledger.rejected), late=ledger.late, watermark=ledger.watermark,
            dedupe_from=ledger.end if oldest is None else oldest, written_ms=now_ms,
        )
        self._start = ledger.end
        self._minutes.clear()
        self._seconds.clear()
        self._days.clear()
        ledger.written_ms = now_ms
        ledger.dedupe_from = record.dedupe_from
        self.forget_closed()
        return record

    def forget_closed(self) -> None:
        """Drop what can no longer change: seconds behind the horizon, days closed to late events."""
        ledger = self.ledger
        ledger.forget_old_seconds()
        closed = [d for d in ledger.days
                  if day_is_closed(parse_day(d)[0], ledger.watermark, self.rules.allowed_lateness_ms)]
        for day in closed:
            start = parse_day(day)[0]
            del ledger.days[day]
            for minute in [m for m in ledger.minutes if start <= m < start + DAY_MS]:
                del ledger.minutes[minute]


def _bucket(table: dict[int, Totals], key: int) -> Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    return totals
