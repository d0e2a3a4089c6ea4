"""The worker's state for one input partition: counts each valid order once, in its own event time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from stream.core.checkpoint import Checkpoint, PartitionLedger
from stream.core.daysales import DaySales
from stream.core.dedupe import Dedupe
from stream.core.eventtime import DAY_MS, MINUTE_MS, SECOND_MS, day_is_closed, day_of, day_start, parse_day
from stream.core.order import ORDER_REFUNDED, InvalidOrder, Order, parse_order
from stream.core.record import LogRecord, Record
from stream.core.rules import Rules
from stream.core.totals import Totals

R = TypeVar("R", bound=LogRecord)


class PartitionState:
    def __init__(self, ledger: PartitionLedger, rules: Rules) -> None:
        self.ledger = ledger
        self.rules = rules
        self.dedupe = Dedupe(rules.dedupe_horizon_ms)
        self.dedupe.watermark = ledger.watermark
        self.duplicates = 0
        self.counted = 0
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

    def apply(self, offset: int, raw: bytes | None, now_ms: int) -> InvalidOrder | bool:
        """Count one input message. Returns the rejection, True if counted, False for an already-applied
        offset or a duplicate delivery."""
        counted = self.counted
        rejected = self.apply_batch((Record(offset, raw),), now_ms)
        return rejected[0][1] if rejected else self.counted != counted

    def apply_batch(self, records: Sequence[R], now_ms: int) -> list[tuple[R, InvalidOrder]]:
        """Count this partition's messages in offset order; returns the rejected ones with their reason.

        The same as counting them one at a time: every rule reads the watermark as of its event. Runs of
        one minute, second or day (the common case) skip the dict lookups.
        """
        ledger, rules, first_time = self.ledger, self.rules, self.dedupe.first_time
        minutes, seconds, days = ledger.minutes, ledger.seconds, ledger.days
        touched_minutes, touched_seconds, touched_days = self._minutes, self._seconds, self._days
        grace, lateness, horizon = rules.grace_ms, rules.allowed_lateness_ms, rules.seconds_horizon_ms
        end = -1 if ledger.end is None else ledger.end
        first = end
        watermark = ledger.watermark
        open_from = day_start(watermark - lateness)  # an event before this is in a closed day
        counted = duplicates = late = 0
        minute = second = day_end = -1  # the buckets of the previous event: runs skip the dict lookups
        minute_totals = second_totals = Totals()
        final_at = 0
        add_to_day = _no_day  # bound at the first order: day_end is -1
        rejected: list[tuple[R, InvalidOrder]] = []
        for record in records:
            offset = record.offset()
            if offset < end:
                continue  # applied before a crash or a rebalance
            end = offset + 1
            try:
                order = parse_order(record.value(), now_ms)
            except InvalidOrder as rejection:
                rejected.append((record, rejection))
                continue
            ts = order.occurred_at
            if ts < open_from:
                rejected.append((record, InvalidOrder("too_late", f"occurred_at {ts} is in {day_of(ts)}, "
                                                                  f"which closed at watermark {watermark}")))
                continue
            if not first_time(order.event_id, ts, offset):
                duplicates += 1
                continue
            counted += 1
            cents = order.usd_cents
            refund = order.type == ORDER_REFUNDED
            bucket = ts - ts % MINUTE_MS
            if bucket != minute:
                minute, minute_totals, final_at = bucket, _bucket(minutes, bucket), bucket + MINUTE_MS + grace
                touched_minutes.add(bucket)
            if final_at <= watermark:
                late += 1  # a correction: the minute was already shown as final
            bucket = ts - ts % SECOND_MS
            if bucket >= watermark - horizon:
                if bucket != second:
                    second, second_totals = bucket, _bucket(seconds, bucket)
                    touched_seconds.add(bucket)
                if refund:
                    second_totals.refunds_cents += cents
                else:
                    second_totals.orders += 1
                    second_totals.gross_cents += cents
            if refund:
                minute_totals.refunds_cents += cents
            else:
                minute_totals.orders += 1
                minute_totals.gross_cents += cents
            if not day_end - DAY_MS <= ts < day_end:
                day_end, day = day_start(ts) + DAY_MS, day_of(ts)
                sales = days.get(day)
                if sales is None:
                    sales = days[day] = DaySales()
                add_to_day = sales.add
                touched_days.add(day)
            add_to_day(order, refund)
            if ts > watermark:
                watermark = ts
                open_from = ts - lateness - (ts - lateness) % DAY_MS  # day_start(), without the call
        if end > first:
            if self._start is None:
                self._start = records[0].offset()  # nothing was skipped: nothing was applied before
            ledger.end = end
        for _, why in rejected:
            ledger.rejected[why.reason] = ledger.rejected.get(why.reason, 0) + 1
        ledger.watermark = watermark
        ledger.late += late
        self.counted += counted
        self.duplicates += duplicates
        return rejected

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


def _no_day(order: Order, refund: bool) -> None:
    raise AssertionError("counting an order before binding its day")


def _bucket(table: dict[int, Totals], key: int) -> Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    return totals
