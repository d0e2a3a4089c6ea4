"""The sales view a reader serves: every partition's checkpoints folded into one picture per day.

Open days are held per partition (PartitionLedger) and summed on demand; minutes and seconds are kept
summed over partitions as they arrive. A day closed in every partition can no longer change: its figures
are computed once, kept compressed (a few KB a day), and the per-partition detail is dropped, so memory
does not grow with the number of days in the log.
"""

from __future__ import annotations

import heapq
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream.core import merchantday
from stream.core.checkpoint import Checkpoint, PartitionLedger
from stream.core.daysales import (
    GROSS,
    NAME,
    NET,
    ORDERS,
    QTY,
    REFUNDS,
    TITLE,
    TOP,
    Covered,
    DayView,
    merchant_net,
)
from stream.core.eventtime import MINUTE_MS, day_of, minute_is_final, parse_day
from stream.core.rules import Rules
from stream.core.snapshot import PartitionSnapshot
from stream.core.totals import Totals
from stream.core.uniques import Uniques

MERCHANTS = "merchants"  # a compacted day's merchant details, kept beside its figures
EXPLAINED = "explained"  # and its minutes' duplicates dropped and late corrections


@dataclass(frozen=True)
class DayInLog:
    name: str  # YYYY-MM-DD
    records: int  # input offsets the day's index spans, over all partitions


@dataclass
class Changes:
    """What changed for one day since the last push: those minutes and seconds, and the day's figures."""

    minutes: set[int] = field(default_factory=set)
    seconds: set[int] = field(default_factory=set)


class SalesView:
    def __init__(self, rules: Rules | None = None) -> None:
        rules = self.rules = rules or Rules()
        self.seconds_horizon_ms = rules.seconds_horizon_ms
        self.grace_ms = rules.grace_ms
        self.allowed_lateness_ms = rules.allowed_lateness_ms
        self.ledgers: dict[int, PartitionLedger] = {}
        self.minutes: dict[int, Totals] = {}  # minute start ms -> sum over partitions (open days)
        self.seconds: dict[int, Totals] = {}  # second start ms -> sum over partitions, recent only
        self.closed_days: dict[str, bytes] = {}  # a day closed everywhere: its snapshot, compressed
        self.as_of_ms = 0  # when the newest checkpoint was written
        self.records = 0
        self.unreadable = 0  # records that could not be read (skipped, counted)
        self._changes: dict[str, Changes] = defaultdict(Changes)
        self._progress: deque[tuple[int, int]] = deque(maxlen=64)  # (written_ms, input offsets applied)
        self._final_before = 0  # minutes ending by this were already pushed as final

    # -- folding ----------------------------------------------------------------------------------------

    def apply(self, raw: bytes) -> bool:
        """Fold one checkpoint record; False if it broke its partition's chain and was ignored. Raises
        checkpoint.Unreadable for a record that is not a checkpoint."""
        return self.accept(Checkpoint.decode(raw))

    def accept(self, checkpoint: Checkpoint) -> bool:
        self.records += 1
        ledger = self.ledgers.get(checkpoint.partition)
        if ledger is None:
            ledger = self.ledgers[checkpoint.partition] = PartitionLedger(checkpoint.partition)
        if not ledger.continues(checkpoint):
            return False
        for name, doc in checkpoint.days.items():
            if name in self.closed_days:
                continue
            view = ledger.days.get(name)
            changes = self._changes[name]
            for minute, values in doc.get("m", {}).items():
                _replace(self.minutes, int(minute), view.minutes.get(int(minute)) if view else None, values)
                changes.minutes.add(int(minute))
            for second, values in doc.get("s", {}).items():
                _replace(self.seconds, int(second), view.seconds.get(int(second)) if view else None, values)
                changes.seconds.add(int(second))
        ledger.accept(checkpoint)
        self.as_of_ms = max(self.as_of_ms, checkpoint.written_ms)
        self._progress.append((checkpoint.written_ms, sum(led.end or 0 for led in self.ledgers.values())))
        self._forget_old_seconds()
        return True

    def start(self, snapshots: Mapping[int, PartitionSnapshot], partitions: int) -> None:
        """A reader's start from every partition's newest snapshot. A day over in all `partitions` is
        compacted straight from the snapshots, one day at a time, so a log of many past days is never
        held expanded (its memory would stay with the process)."""
        if partitions and set(range(partitions)) <= set(snapshots):
            names = {name for snapshot in snapshots.values() for name in snapshot.heads}
            for name in sorted(names):
                if all(self._over(snapshot, name) for snapshot in snapshots.values()):
                    day = SalesView(self.rules)
                    for snapshot in snapshots.values():
                        day.load(snapshot, only=name)
                    self.closed_days[name] = day._compressed(name)
        for snapshot in snapshots.values():
            self.load(snapshot)

    def _over(self, snapshot: PartitionSnapshot, name: str) -> bool:
        # What close_days asks of a ledger, of the snapshot: a day it holds is closed unless it is open.
        closed = name in snapshot.heads and name not in snapshot.state.days
        return closed or parse_day(name)[1] + self.allowed_lateness_ms <= snapshot.state.watermark

    def load(self, snapshot: PartitionSnapshot, only: str | None = None) -> None:
        """Start (or start again) a partition from its newest snapshot: the chain goes on from its end.
        `only`: that day's record alone."""
        self._drop(snapshot.partition)
        ledger = self.ledgers[snapshot.partition] = PartitionLedger(snapshot.partition)
        for name in [only] if only is not None else snapshot.heads:
            if name in self.closed_days or name not in snapshot.heads:
                continue
            head = snapshot.heads[name]
            view = ledger.days[name] = DayView()
            view.apply(head)
            view.details.update(snapshot.details.get(name, {}))
            for minute, values in head["m"].items():
                view.minutes[int(minute)] = totals = Totals.from_list(values)
                _replace(self.minutes, int(minute), None, totals.to_list())
            for second, values in head["s"].items():
                view.seconds[int(second)] = totals = Totals.from_list(values)
                _replace(self.seconds, int(second), None, totals.to_list())
            if head.get("closed"):
                ledger.closed.add(name)
            self._changes.setdefault(name, Changes())
        ledger.end = snapshot.state.end
        ledger.watermark = snapshot.state.watermark
        ledger.written_ms = snapshot.state.taken_ms
        self.as_of_ms = max(self.as_of_ms, snapshot.state.taken_ms)
        self._forget_old_seconds()

    def _drop(self, partition: int) -> None:
        """Take a partition's figures out of the sums."""
        old = self.ledgers.pop(partition, None)
        for view in old.days.values() if old is not None else ():
            for minute, totals in view.minutes.items():
                _replace(self.minutes, minute, totals, None)
            for second, totals in view.seconds.items():
                _replace(self.seconds, second, totals, None)

    def _forget_old_seconds(self) -> None:
        # Per day: the horizon runs back from the newest watermark, or from the day's end once it is over,
        # so a past day keeps its last 15 minutes however far the log has moved on.
        newest = self.watermark(max)
        if not self.seconds or min(self.seconds) >= newest - self.seconds_horizon_ms:
            return
        cutoffs: dict[str, int] = {}

        def kept(second: int) -> bool:
            name = day_of(second)
            cutoff = cutoffs.get(name)
            if cutoff is None:
                cutoff = cutoffs[name] = min(newest, parse_day(name)[1]) - self.seconds_horizon_ms
            return second >= cutoff

        self.seconds = {s: t for s, t in self.seconds.items() if kept(s)}
        for ledger in self.ledgers.values():
            for view in ledger.days.values():
                if view.seconds:
                    view.seconds = {s: t for s, t in view.seconds.items() if kept(s)}

    def watermark(self, pick: Callable[[Iterable[int]], int] = min) -> int:
        """Event time all partitions (min) or the fastest one (max) have reached."""
        marks = [led.watermark for led in self.ledgers.values() if led.end is not None]
        return pick(marks) if marks else 0

    def close_days(self, partitions: int) -> list[str]:
        """Compact the days no partition of the `partitions` can change any more (each one closed, or its
        watermark past the day's end plus the allowed lateness); returns them. Until every partition has
        been heard from nothing closes: one that has not may still hold a past day's orders."""
        ledgers = [led for led in self.ledgers.values() if led.end is not None]
        if not set(range(partitions)) <= {led.partition for led in ledgers}:
            return []
        names = {name for led in ledgers for name in led.days}
        done = [name for name in sorted(names)
                if all(name in led.closed or parse_day(name)[1] + self.allowed_lateness_ms <= led.watermark
                       for led in ledgers)]
        for name in done:
            self.closed_days[name] = self._compressed(name)
            start, end = parse_day(name)
            for led in ledgers:
                led.days.pop(name, None)
            self.minutes = {m: t for m, t in self.minutes.items() if not start <= m < end}
            self.seconds = {s: t for s, t in self.seconds.items() if not start <= s < end}
        return done

    def _compressed(self, name: str) -> bytes:
        # A closed day keeps its merchants' minutes, not their seconds (the day's own last seconds stay).
        details = {m: {k: v for k, v in d.items() if k not in ("s", "sf")} for led in self.ledgers.values()
                   if name in led.days for m, d in led.days[name].details.items()}
        whole = {**self._open_snapshot(name), MERCHANTS: details, EXPLAINED: self._explained(name)}
        return zlib.compress(orjson.dumps(whole), 6)

    def _explained(self, name: str) -> dict[str, list[int]]:
        summed: dict[str, list[int]] = {}
        for led in self.ledgers.values():
            for minute, (duplicates, late) in (led.days[name].explained if name in led.days else {}).items():
                row = summed.setdefault(minute, [0, 0])
                row[0] += duplicates
                row[1] += late
        return summed

    # -- reading ----------------------------------------------------------------------------------------

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

    def offsets(self) -> dict[str, int]:
        """Per input partition, the offset everything below which is in these figures: a client can tell
        exactly which orders an update includes (bench/freshness.py does)."""
        return {str(p): led.end for p, led in sorted(self.ledgers.items()) if led.end is not None}

    def snapshot(self, day: str, changes: Changes | None = None) -> dict[str, Any]:
        """The day in the /api/snapshot shape; with `changes`, only those minutes and seconds (a delta)."""
        closed = self.closed_days.get(day)
        if closed is not None:
            doc: dict[str, Any] = orjson.loads(zlib.decompress(closed))
            doc.pop(MERCHANTS, None)
            doc.pop(EXPLAINED, None)
            return {**doc, "as_of_ms": self.as_of_ms, "ingest_rate": self.ingest_rate(),
                    "offsets": self.offsets()}
        return self._open_snapshot(day, changes)

    def merchant_snapshot(self, day: str, merchant: str, changes: Changes | None = None) -> dict[str, Any]:
        """One merchant's day, from its home partition's own figures (zero if it sold nothing); with
        `changes` (the day's), only those of its minutes (a delta)."""
        closed = self.closed_days.get(day)
        seconds_from = min(self.watermark(max), parse_day(day)[1]) - self.seconds_horizon_ms  # as the day's
        if closed is not None:
            whole = orjson.loads(zlib.decompress(closed))
            detail, final_before = whole[MERCHANTS].get(merchant), int(whole["final_before_ms"])
        else:
            final_before = self.watermark(min) - self.grace_ms
            detail = next((led.days[day].details[merchant] for led in self.ledgers.values()
                           if day in led.days and merchant in led.days[day].details), None)
        return {"day": day, "merchant_id": merchant, "as_of_ms": self.as_of_ms,
                "final_before_ms": final_before,
                **_merchant_figures(merchant, detail or merchantday.EMPTY, final_before, seconds_from,
                                    changes)}

    def merchant_orders(self, day: str, minutes: range) -> tuple[dict[str, int], int]:
        """Each merchant's orders in `minutes` of `day`, and the day's orders before the first of them
        (what alerts compare with the compare day's)."""
        closed = self.closed_days.get(day)
        if closed is not None:
            whole = orjson.loads(zlib.decompress(closed))
            details: Iterable[tuple[str, dict[str, Any]]] = whole[MERCHANTS].items()
            before = sum(m["orders"] for m in whole["minutes"] if m["start_ms"] < minutes.start)
        else:
            details = [(m, d) for led in self.ledgers.values() if day in led.days
                       for m, d in led.days[day].details.items()]
            before = sum(t.orders for m, t in self.minutes.items()
                         if parse_day(day)[0] <= m < minutes.start)
        wanted = {str(m) for m in minutes}
        found = {merchant: sum(v[0] for m, v in detail["m"].items() if m in wanted)
                 for merchant, detail in details}
        return {m: n for m, n in found.items() if n}, before

    def explain(self, day: str, minute_ms: int, merchant: str | None = None) -> dict[str, Any]:
        """What made one minute's figures (the day's, or one merchant's): orders counted, duplicates dropped
        and late corrections in it, the day's dead letters by reason, and whether it is final."""
        closed = self.closed_days.get(day)
        whole = orjson.loads(zlib.decompress(closed)) if closed is not None else None
        if merchant is not None:
            figures = self.merchant_snapshot(day, merchant)
        else:
            figures = whole if whole is not None else self._open_snapshot(day)
        found = [m for m in figures["minutes"] if m["start_ms"] == minute_ms]
        explained = (whole[EXPLAINED] if whole is not None else self._explained(day)).get(str(minute_ms))
        marks = {str(p): led.watermark for p, led in sorted(self.ledgers.items()) if led.end is not None}
        final_at = minute_ms + MINUTE_MS + self.grace_ms
        return {
            "day": day, "start_ms": minute_ms, "merchant_id": merchant,
            **(found[0] if found else _minute(minute_ms, Totals(), figures["final_before_ms"])),
            # Kept per minute for the whole day, not per merchant: a merchant's minute shows none.
            "duplicates_dropped": None if merchant is not None else (explained or [0, 0])[0],
            "late_corrections": None if merchant is not None else (explained or [0, 0])[1],
            "dead_letters_of_day": dict(sorted((whole or self._open_snapshot(day))["dead_letters"].items())),
            "final_when_watermarks_reach": final_at,
            "watermarks": marks,
        }

    def _open_snapshot(self, day: str, changes: Changes | None = None) -> dict[str, Any]:
        start, end = parse_day(day)
        if changes is None:
            minutes = sorted(m for m in self.minutes if start <= m < end)
            seconds = sorted(s for s in self.seconds if start <= s < end)
        else:
            minutes = sorted(m for m in changes.minutes if m in self.minutes)
            seconds = sorted(s for s in changes.seconds if s in self.seconds)
        final_before = self.watermark(min) - self.grace_ms
        parts = [led.days[day] for led in self.ledgers.values() if day in led.days]
        dead: dict[str, int] = defaultdict(int)
        for part in parts:
            for reason, n in part.dead.items():
                dead[reason] += n
        return {
            "day": day,
            "as_of_ms": self.as_of_ms,
            "final_before_ms": final_before,
            **_day_figures(parts),
            "minutes": [_minute(m, self.minutes[m], final_before) for m in minutes],
            "seconds": [_second(s, self.seconds[s]) for s in seconds],
            "dead_letters": dict(sorted(dead.items())),
            "late_events": sum(part.late for part in parts),
            "rerouted": sum(part.rerouted for part in parts),
            "index": self._index(day),
            "ingest_rate": self.ingest_rate(),
            "offsets": self.offsets(),
        }

    def _index(self, day: str) -> dict[str, list[int]]:
        """Per partition, the open `day`'s index (daysales.Covered) as JSON."""
        return {str(p): list(offsets) for p, led in sorted(self.ledgers.items())
                if (view := led.days.get(day)) is not None and (offsets := view.offsets) is not None}

    def index(self, day: str) -> dict[int, Covered]:
        """The day index of `day` (open or closed), per partition; empty for a day the workers never
        counted or tallied anything into."""
        doc = self.closed_days.get(day)
        found = self._index(day) if doc is None else orjson.loads(zlib.decompress(doc)).get("index", {})
        return {int(p): Covered(*(int(n) for n in offsets)) for p, offsets in found.items()}

    def days(self) -> list[DayInLog]:
        """Every day the workers counted or tallied a record into, oldest first."""
        names = set(self.closed_days).union(*(led.days for led in self.ledgers.values()))
        found = [DayInLog(name, sum(c.last - c.first + 1 for c in self.index(name).values()))
                 for name in sorted(names)]
        return [day for day in found if day.records]


def _replace(merged: dict[int, Totals], key: int, old: Totals | None, new: list[int] | None) -> None:
    # Each partition's bucket is absolute: take its old value out of the sum and put the new one in.
    bucket = merged.get(key)
    if bucket is None:
        bucket = merged[key] = Totals()
    if old is not None:
        bucket.subtract(old)
    if new is not None:
        bucket.merge(Totals.from_list(new))
    if not (bucket.orders or bucket.gross_cents or bucket.refunds_cents) and new is None:
        del merged[key]


def _day_figures(parts: list[DayView]) -> dict[str, Any]:
    totals = Totals()
    countries: dict[str, Totals] = defaultdict(Totals)
    channels: dict[str, Totals] = defaultdict(Totals)
    for part in parts:
        totals.merge(part.totals)
        for key, t in part.countries.items():
            countries[key].merge(t)
        for key, t in part.channels.items():
            channels[key].merge(t)
    # A merchant, and so its products, lives in one partition (stream.core.routing): the overall top ten
    # is the top ten of the partitions' top tens.
    merchants = [(k, part.merchants[k]) for part in parts for k in part.top_merchants]
    products = [(k, part.products[k]) for part in parts for k in part.top_products]
    # One order everywhere (docs/events.md): net descending, ties by key ascending.
    top_merchants = heapq.nsmallest(TOP, merchants, key=lambda kv: (-merchant_net(kv[1]), kv[0]))
    top_products = heapq.nsmallest(TOP, products, key=lambda kv: (-kv[1][NET], kv[0]))
    sketches = [part.customers() for part in parts if part.sketch is not None]
    return {
        # An estimate can overshoot; shoppers never outnumber orders.
        "totals": {**totals.as_dict(), "aov_cents": _aov(totals), "unique_customers": min(
            totals.orders, Uniques.union(sketches).estimate() if sketches else 0)},
        "countries": _breakdown("country", countries),
        "channels": _breakdown("channel", channels),
        "top_merchants": [{"merchant_id": k, "name": m[NAME], "orders": m[ORDERS],
                           "net_cents": merchant_net(m)} for k, m in top_merchants],
        "top_products": [{"sku": sku, "title": p[TITLE], "merchant_id": merchant,
                          "qty": p[QTY], "net_cents": p[NET]}
                         for (merchant, sku), p in top_products],
    }


def _merchant_figures(merchant: str, detail: dict[str, Any], final_before: int, seconds_from: int,
                      changes: Changes | None) -> dict[str, Any]:
    # The global snapshot's shape, so the page draws a merchant with the same code.
    row = detail["r"]
    totals = Totals(row[ORDERS], row[GROSS], row[REFUNDS])
    # A merchant's minutes change only where its day's do: a delta's are among the day's.
    minutes = sorted((int(m), Totals.from_list(v)) for m, v in detail["m"].items()
                     if changes is None or int(m) in changes.minutes)
    return {
        "name": row[NAME], "totals": {**totals.as_dict(), "aov_cents": _aov(totals)},
        "minutes": [_minute(m, t, final_before) for m, t in minutes],
        "countries": _breakdown("country", {k: Totals.from_list(v) for k, v in detail["co"].items()}),
        "channels": _breakdown("channel", {k: Totals.from_list(v) for k, v in detail["ch"].items()}),
        "top_products": [{"sku": sku, "title": title, "merchant_id": merchant, "qty": qty, "net_cents": net}
                         for sku, title, qty, net in detail["tp"]],
        "top_merchants": [{"merchant_id": merchant, "name": row[NAME], "orders": totals.orders,
                           "net_cents": totals.net_cents}] if totals.orders or totals.refunds_cents else [],
        "seconds": [_second(s, t) for s, t in merchantday.seconds_shown(detail, seconds_from)
                    if changes is None or s in changes.seconds],
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

