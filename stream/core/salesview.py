"""The sales view an app process serves: every partition's checkpoints folded into one picture per day."""

from __future__ import annotations

import heapq
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from stream.core.checkpoint import Checkpoint, PartitionLedger
from stream.core.daysales import MERCHANT, NAME, NET, ORDERS, QTY, TITLE, TOP, DaySales, merchant_net
from stream.core.eventtime import MINUTE_MS, day_of, minute_is_final, parse_day
from stream.core.totals import Totals
from stream.core.uniques import Uniques


@dataclass
class Changes:
    """What changed for one day since the last push: those minutes and seconds, and the day's figures."""

    minutes: set[int] = field(default_factory=set)
    seconds: set[int] = field(default_factory=set)


class SalesView:
    def __init__(self, seconds_horizon_ms: int = 900_000, grace_ms: int = 5_000) -> None:
        self.seconds_horizon_ms = seconds_horizon_ms
        self.grace_ms = grace_ms
        self.ledgers: dict[int, PartitionLedger] = {}
        self.minutes: dict[int, Totals] = {}  # minute start ms -> sum over partitions
        self.seconds: dict[int, Totals] = {}  # second start ms -> sum over partitions, recent only
        self.as_of_ms = 0  # when the newest checkpoint was written
        self.records = 0
        self._changes: dict[str, Changes] = defaultdict(Changes)
        self._progress: deque[tuple[int, int]] = deque(maxlen=64)  # (written_ms, input offsets applied)
        self._final_before = 0  # minutes ending by this were already pushed as final

    def apply(self, raw: bytes) -> bool:
        """Fold one checkpoint record; False if it broke its partition's chain and was ignored."""
        checkpoint = Checkpoint.decode(raw)
        self.records += 1
        ledger = self.ledgers.get(checkpoint.partition)
        if ledger is None:
            ledger = self.ledgers[checkpoint.partition] = PartitionLedger(checkpoint.partition,
                                                                          self.seconds_horizon_ms)
        minutes_before = {m: ledger.minutes.get(m) for m in checkpoint.minutes}
        seconds_before = {s: ledger.seconds.get(s) for s in checkpoint.seconds}
        if not ledger.accept(checkpoint):
            return False
        _fold(self.minutes, checkpoint.minutes, minutes_before)
        _fold(self.seconds, checkpoint.seconds, seconds_before)
        for minute in checkpoint.minutes:
            self._changes[day_of(minute)].minutes.add(minute)
        for second in checkpoint.seconds:
            self._changes[day_of(second)].seconds.add(second)
        for day in checkpoint.days:
            self._changes.setdefault(day, Changes())  # the day's figures changed even if no minute did
        self.as_of_ms = max(self.as_of_ms, checkpoint.written_ms)
        self._progress.append((checkpoint.written_ms, sum(led.end or 0 for led in self.ledgers.values())))
        self._forget_old_seconds()
        return True

    def _forget_old_seconds(self) -> None:
        oldest = self.watermark(max) - self.seconds_horizon_ms
        if self.seconds and min(self.seconds) < oldest:
            self.seconds = {s: t for s, t in self.seconds.items() if s >= oldest}

    def watermark(self, pick: Any = min) -> int:
        """Event time all partitions (min) or the fastest one (max) have reached."""
        marks = [led.watermark for led in self.ledgers.values() if led.end is not None]
        return pick(marks) if marks else 0

    def take_changes(self) -> dict[str, Changes]:
        """What changed since the last call, by day, including minutes that have just become final."""
        final_before = self.watermark(min) - self.grace_ms
        first = max(self._final_before, final_before - 60 * MINUTE_MS)  # a jump is not a backfill of finals
        for minute in range(first - first % MINUTE_MS, final_before - MINUTE_MS + 1, MINUTE_MS):
            if minute + MINUTE_MS > self._final_before and minute in self.minutes:
                self._changes[day_of(minute)].minutes.add(minute)
        self._final_before = max(self._final_before, final_before)
        changes, self._changes = self._changes, defaultdict(Changes)
        return dict(changes)

    def ingest_rate(self) -> int:
        """Input events per second over the last ~10 s of checkpoints."""
        if len(self._progress) < 2:
            return 0
        newest_ms, newest = self._progress[-1]
        for written_ms, applied in self._progress:
            if newest_ms - written_ms <= 10_000 and written_ms < newest_ms:
                return round((newest - applied) * 1000 / (newest_ms - written_ms))
        return 0

    def rejected(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for ledger in self.ledgers.values():
            for reason, n in ledger.rejected.items():
                counts[reason] += n
        return dict(counts)

    def snapshot(self, day: str, changes: Changes | None = None) -> dict[str, Any]:
        """The day in the /api/snapshot shape; with `changes`, only those minutes and seconds (a delta)."""
        start, end = parse_day(day)
        if changes is None:
            minutes = sorted(m for m in self.minutes if start <= m < end)
            seconds = sorted(s for s in self.seconds if start <= s < end)
        else:
            minutes = sorted(changes.minutes)
            seconds = sorted(s for s in changes.seconds if s in self.seconds)
        final_before = self.watermark(min) - self.grace_ms
        parts = [led.days[day] for led in self.ledgers.values() if day in led.days]
        return {
            "day": day,
            "as_of_ms": self.as_of_ms,
            "final_before_ms": final_before,
            **_day_figures(parts),
            "minutes": [_minute(m, self.minutes[m], final_before) for m in minutes],
            "seconds": [_second(s, self.seconds[s]) for s in seconds],
            "dead_letters": self.rejected(),
            "late_events": sum(led.late for led in self.ledgers.values()),
            "ingest_rate": self.ingest_rate(),
            # Per input partition, the offset everything below which is in these figures: a client can
            # tell exactly which orders an update includes (bench/freshness.py does).
            "offsets": {str(p): led.end for p, led in sorted(self.ledgers.items()) if led.end is not None},
        }


def _fold(merged: dict[int, Totals], new: dict[int, Totals], before: dict[int, Totals | None]) -> None:
    # Each partition's bucket is absolute: take its old value out of the sum and put the new one in.
    for key, totals in new.items():
        bucket = merged.get(key)
        if bucket is None:
            bucket = merged[key] = Totals()
        old = before[key]
        if old is not None:
            bucket.subtract(old)
        bucket.merge(totals)


def _day_figures(parts: list[DaySales]) -> dict[str, Any]:
    totals = Totals()
    countries: dict[str, Totals] = defaultdict(Totals)
    channels: dict[str, Totals] = defaultdict(Totals)
    for part in parts:
        totals.merge(part.totals)
        for key, t in part.countries.items():
            countries[key].merge(t)
        for key, t in part.channels.items():
            channels[key].merge(t)
    # A merchant, and so its products, lives in one partition (the key is merchant_id): the overall top
    # ten is the top ten of the partitions' top tens.
    merchants = [(k, part.merchants[k]) for part in parts for k in part.top_merchants]
    products = [(k, part.products[k]) for part in parts for k in part.top_products]
    top_merchants = heapq.nlargest(TOP, merchants, key=lambda kv: (merchant_net(kv[1]), kv[0]))
    top_products = heapq.nlargest(TOP, products, key=lambda kv: (kv[1][NET], kv[0]))
    return {
        # An estimate can overshoot; shoppers never outnumber orders.
        "totals": {**totals.as_dict(), "aov_cents": _aov(totals), "unique_customers": min(
            totals.orders, Uniques.union(p.customers for p in parts).estimate())},
        "countries": _breakdown("country", countries),
        "channels": _breakdown("channel", channels),
        "top_merchants": [{"merchant_id": k, "name": m[NAME], "orders": m[ORDERS],
                           "net_cents": merchant_net(m)} for k, m in top_merchants],
        "top_products": [{"sku": k, "title": p[TITLE], "merchant_id": p[MERCHANT], "qty": p[QTY],
                          "net_cents": p[NET]} for k, p in top_products],
    }


def _aov(totals: Totals) -> int:
    """Average order value: gross per order, rounded half to even, in cents."""
    if not totals.orders:
        return 0
    quotient, remainder = divmod(totals.gross_cents, totals.orders)
    if 2 * remainder > totals.orders or (2 * remainder == totals.orders and quotient % 2):
        quotient += 1
    return quotient


def _breakdown(name: str, table: dict[str, Totals]) -> list[dict[str, Any]]:
    rows = sorted(table.items(), key=lambda kv: (-kv[1].net_cents, kv[0]))
    return [{name: key, "orders": t.orders, "net_cents": t.net_cents} for key, t in rows]


def _minute(start_ms: int, totals: Totals, final_before: int) -> dict[str, Any]:
    return {"start_ms": start_ms, "orders": totals.orders, "gross_cents": totals.gross_cents,
            "refunds_cents": totals.refunds_cents, "final": minute_is_final(start_ms, final_before, 0)}


def _second(start_ms: int, totals: Totals) -> dict[str, int]:
    return {"start_ms": start_ms, "orders": totals.orders, "gross_cents": totals.gross_cents,
            "refunds_cents": totals.refunds_cents}
