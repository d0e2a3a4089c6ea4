"""The worker's state for one input partition: counts each valid order once, in its own event time, and
says what to publish: checkpoints (stream.core.checkpoint) and snapshots (stream.core.snapshot).

Counting is a pure function of the partition's records and, per checkpoint range, the clock they were
judged by: a worker that takes a partition over loads its newest snapshot and counts the ranges after it
again (`recount`), reaching exactly the state its predecessor published.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, TypeVar, cast

import orjson

from stream.core import snapshot as snap
from stream.core.checkpoint import Checkpoint, Link
from stream.core.daysales import DaySales
from stream.core.dedupe import Dedupe, Piece, hash_id
from stream.core.eventtime import DAY_MS, MINUTE_MS, SECOND_MS, day_of, day_start, parse_day
from stream.core.order import EARLIEST_MS, ORDER_REFUNDED, InvalidOrder, Order, parse_order
from stream.core.record import LogRecord, Record
from stream.core.routing import Homes
from stream.core.rules import Rules
from stream.core.totals import Totals

R = TypeVar("R", bound=LogRecord)
Snapshot = list[tuple[bytes, bytes | None]]  # (key, value or None for a tombstone) for one topic


class PoisonRecord(Exception):
    """Counting one record raised after the state had started to change: the partition must be rebuilt
    from the log and the record passed over (its offset goes into the next checkpoint's `skip`)."""

    def __init__(self, offset: int, cause: BaseException) -> None:
        super().__init__(f"counting the record at offset {offset} failed: {cause!r}")
        self.offset = offset
        self.cause = cause


class Applied(NamedTuple):
    rejected: list[tuple[Any, InvalidOrder]]  # records not counted, with the reason (dead letters)
    rerouted: list[tuple[Any, int, str]]  # valid orders counted elsewhere: (record, its home, merchant_id)


class Range(NamedTuple):
    """A published checkpoint's range, as a recount needs it."""

    start: int
    end: int
    now_ms: int
    skip: frozenset[int]
    follow: int | None = None  # a follow step: the watermark it moved to (the range is empty)

    @classmethod
    def of(cls, found: Link) -> Range:
        return cls(found.start, found.end, found.now, frozenset(found.skip), found.follow)


class PartitionState:
    def __init__(self, partition: int, rules: Rules, homes: Homes | None = None) -> None:
        self.partition = partition
        self.rules = rules
        self.homes = homes  # None: count every valid order where it is (one partition, or tests)
        self.days: dict[str, DaySales] = {}
        self.dedupe = Dedupe(rules.dedupe_horizon_ms)
        self.watermark = 0
        self.published_watermark = 0  # the watermark of the last checkpoint: what readers hold
        self.end: int | None = None  # every input offset below this is applied; None: nothing yet
        self.skip: set[int] = set()  # offsets to pass over: they broke counting once
        self.counted = 0
        self.duplicates = 0
        self.pending = 0  # records applied since the last checkpoint
        self.since_snapshot = 0  # records applied since the last snapshot
        self._start: int | None = None  # the range since the last checkpoint starts here
        self._range_now: int | None = None  # the clock of that range: its first batch's
        self._skipped: list[int] = []
        self._follow: int | None = None  # a follow step waiting for its checkpoint
        self._closed_heads: dict[str, dict[str, Any]] = {}  # days closed since the last snapshot
        self._closed_rows: list[bytes] = []  # their rows' keys, to delete from the state topic
        self._closed_details: Snapshot = []  # their merchants' details, kept in the state topic

    # -- counting ---------------------------------------------------------------------------------------

    def apply(self, offset: int, raw: bytes | None, now_ms: int) -> InvalidOrder | bool:
        """Count one input message. Returns the rejection, True if counted, False for an already-applied
        offset, a duplicate delivery or a reroute."""
        counted = self.counted
        applied = self.apply_batch((Record(offset, raw),), now_ms)
        return applied.rejected[0][1] if applied.rejected else self.counted != counted

    def apply_batch(self, records: Sequence[R], now_ms: int, stamped: bool = False) -> Applied:
        """Count this partition's records in offset order.

        The same as counting them one at a time: every rule reads the watermark as of its event. The
        range's records are all judged by its first batch's clock, so a recount judges them alike;
        `stamped` (replays) judges each record by its own Kafka timestamp instead.
        """
        if self._range_now is None:
            self._range_now = now_ms
        now = self._range_now
        rules = self.rules
        end = -1 if self.end is None else self.end
        first = end
        rejected: list[tuple[Any, InvalidOrder]] = []
        rerouted: list[tuple[Any, int, str]] = []
        # Pass 1: decode, validate, route; ids hashed for one vectorised look-up in the dedupe memory.
        valid: list[tuple[R, Order, int]] = []
        hashes: list[int] = []
        asides: list[tuple[int, Any, str | None]] = []  # (valid ones before, record, reason; None: reroute)
        homes, partition, skip, max_future = self.homes, self.partition, self.skip, rules.max_future_ms
        for record in records:
            offset = record.offset()
            if offset < end:
                continue  # applied before a crash or a rebalance
            end = offset + 1
            if skip and offset in skip:
                self._skipped.append(offset)
                continue
            clock = _stamp(record) if stamped else -1
            try:
                order = parse_order(record.value(), clock if clock >= 0 else now, max_future)
                if homes is not None:
                    home = homes[order.merchant_id]
                    if home != partition:
                        rerouted.append((record, home, order.merchant_id))
                        asides.append((len(valid), record, None))
                        continue
                hashed = hash_id(order.event_id)
            except InvalidOrder as rejection:
                rejected.append((record, rejection))
                asides.append((len(valid), record, rejection.reason))
                continue
            except Exception as exc:  # a last line of defence: one record never stops counting
                rejected.append((record, InvalidOrder("internal_error", f"decoding raised {exc!r}")))
                asides.append((len(valid), record, "internal_error"))
                continue
            valid.append((record, order, hashed))
            hashes.append(hashed)
        if end > first and self._start is None:
            self._start = records[0].offset() if first < 0 else first
        self.end = max(end, 0) if end > first else self.end
        known = self.dedupe.known(hashes)
        if not asides:
            too_late = self._count(valid, known)
        else:  # counted between the records set aside: each is tallied by the watermark at its place
            too_late, at = [], 0
            for position, record, reason in asides:
                if position > at:
                    too_late += self._count(valid[at:position], known[at:position])
                    at = position
                day = self._tally_day(_stamp(record), _clock(record, stamped, now), self.watermark)
                if reason is None:
                    day.tally(rerouted=1, offset=record.offset())
                else:
                    day.tally(reason=reason, offset=record.offset())
            if at < len(valid):
                too_late += self._count(valid[at:], known[at:])
        for record, why, watermark in too_late:
            day = self._tally_day(_stamp(record), _clock(record, stamped, now), watermark)
            day.tally(reason=why.reason, offset=record.offset())
        self.dedupe.end_batch(self.watermark)
        if too_late:
            rejected.extend((record, why) for record, why, _ in too_late)
            rejected.sort(key=lambda item: item[0].offset())
        self.pending += len(records)
        self.since_snapshot += len(records)
        return Applied(rejected, rerouted)

    def _count(self, valid: list[tuple[R, Order, int]], known: list[int]
               ) -> list[tuple[Any, InvalidOrder, int]]:
        """Pass 2, in order: lateness, dedupe, then the sums. Runs of one minute, second or day (the common
        case) skip the dict lookups. Returns the orders too late, each with the watermark that found it."""
        rules, days, first_time = self.rules, self.days, self.dedupe.first_time
        grace, lateness, horizon = rules.grace_ms, rules.allowed_lateness_ms, rules.seconds_horizon_ms
        watermark = self.watermark
        open_from = day_start(watermark - lateness)  # an event before this is in a closed day
        counted = duplicates = 0
        minute = second = day_end = -1  # the buckets of the previous event: runs skip the dict lookups
        minute_totals = second_totals = Totals()
        minutes: dict[int, Totals] = {}
        seconds: dict[int, Totals] = {}
        touched_minutes: set[int] = set()
        touched_seconds: set[int] = set()
        # Set at the first event (day_end -1 forces the look-up): no placeholder day (an HLL sketch) a call.
        sales = cast(DaySales, None)
        final_at = 0
        rejected: list[tuple[Any, InvalidOrder, int]] = []
        for (record, order, hashed), seen in zip(valid, known, strict=True):
            ts = order.occurred_at
            if ts < open_from:
                rejected.append((record, InvalidOrder("too_late", f"occurred_at {ts} is in {day_of(ts)}, "
                                                                  f"which closed at watermark {watermark}"),
                                 watermark))
                continue
            if not first_time(hashed, ts, seen, watermark):
                duplicates += 1
                _explain(days, ts, duplicate=True)
                continue
            try:
                counted += 1
                cents = order.usd_cents
                refund = order.type == ORDER_REFUNDED
                if not day_end - DAY_MS <= ts < day_end:
                    day_end = day_start(ts) + DAY_MS
                    name = day_of(ts)
                    found = days.get(name)
                    if found is None:
                        found = days[name] = DaySales()
                    sales = found
                    minutes, seconds = sales.minutes, sales.seconds
                    touched_minutes, touched_seconds = sales.touched_minutes, sales.touched_seconds
                    minute = second = -1
                bucket = ts - ts % MINUTE_MS
                if bucket != minute:
                    minute, minute_totals = bucket, _bucket(minutes, bucket)
                    final_at = bucket + MINUTE_MS + grace
                    touched_minutes.add(bucket)
                if final_at <= watermark:
                    sales.tally(late=1)  # a correction: the minute was already shown as final
                    sales.explain(bucket, duplicate=False)
                bucket = ts - ts % SECOND_MS
                # The last seconds of a day that has ended stay its last seconds: the horizon ends there.
                in_horizon = bucket >= (watermark if watermark < day_end else day_end) - horizon
                if in_horizon:
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
                sales.add(order, refund, bucket if in_horizon else -1)  # the merchant's second too
                sales.cover(record.offset())
            except Exception as exc:  # the state is half changed: only a rebuild from the log is safe
                raise PoisonRecord(record.offset(), exc) from exc
            if ts > watermark:
                watermark = ts
                open_from = ts - lateness - (ts - lateness) % DAY_MS  # day_start(), without the call
        self.watermark = watermark
        self.counted += counted
        self.duplicates += duplicates
        return rejected

    def _tally_day(self, stamp: int, now_ms: int, watermark: int) -> DaySales:
        """The day a dead letter or a reroute counts in: the record's own (Kafka timestamp) day while it is
        open at `watermark` (the partition's where the record stands); a stamp of a closed day, the
        watermark's day (open, and the same for every reader, whatever clock judged the record); else (no
        usable stamp) the day of the clock that judged it (a hostile stamp cannot open a day)."""
        open_from = max(EARLIEST_MS, day_start(watermark - self.rules.allowed_lateness_ms))
        if open_from <= stamp <= now_ms + self.rules.max_future_ms:
            ts = stamp
        elif EARLIEST_MS <= stamp < open_from:
            ts = watermark
        else:
            ts = now_ms
        name = day_of(ts)
        sales = self.days.get(name)
        if sales is None:
            sales = self.days[name] = DaySales()
        return sales

    def follow(self, watermark: int, at: int | None = None) -> bool:
        """An idle partition's step: its watermark follows `watermark` (never backwards), so its days close
        as if records had moved it there, and a record that comes later for a closed day is too_late, as
        in any partition. A step of its own between ranges, published by the next checkpoint (an empty
        range carrying it), which a recount applies again at the same place. `at`: where the partition's
        log ends, for one that never had a record. Returns whether the watermark moved."""
        if self._start is not None or self._follow is not None:
            raise ValueError("a follow step comes between ranges: publish the pending one first")
        if watermark <= self.watermark:
            return False
        if self.end is None:
            if at is None:
                raise ValueError("a partition that never had a record follows from where its log ends")
            self.end = at
        self.watermark = self._follow = watermark
        return True

    # -- publishing -------------------------------------------------------------------------------------

    @property
    def idle_changes(self) -> bool:
        """Something waits to be published though no record came (a sketch not yet due when it changed)."""
        return any(sales.pending for sales in self.days.values())

    def checkpoint(self, written_ms: int, force: bool = False) -> Checkpoint | None:
        """The record for everything applied since the last checkpoint; None if nothing new. `force`
        publishes pending changes (a sketch now due) even when no record came: an empty range."""
        if self.end is None or (self._start is None and self._follow is None
                                and not (force and self.idle_changes)):
            return None
        start = self.end if self._start is None else self._start
        now = self._range_now if self._range_now is not None else written_ms
        closing = self._closing()
        docs = {}
        for name, sales in self.days.items():
            oldest = self._seconds_from(name)
            sales.forget_seconds_before(oldest)
            if sales.pending or name in closing:
                docs[name] = sales.changes(now, self.rules.sketch_every_ms, oldest, closing=name in closing)
        record = Checkpoint(self.partition, start, self.end, now, self.watermark, written_ms, docs,
                            closed=closing, skip=self._skipped, follow=self._follow,
                            held_watermark=self.published_watermark)
        self.published_watermark = self.watermark
        for name in closing:
            sales = self.days.pop(name)
            self._closed_heads[name] = sales.head()
            merchants, products = sales.rows(set(sales.merchants))
            self._closed_rows += [snap.merchant_key(self.partition, name, m) for m, _ in merchants]
            self._closed_rows += [snap.product_key(self.partition, name, k) for k, _ in products]
            self._closed_details += _details(self.partition, name, sales, set(sales.merchants), None)
        self._start = self._range_now = self._follow = None
        self._skipped = []
        self.pending = 0
        return record

    def _seconds_from(self, name: str) -> int:
        """The oldest second day `name` keeps: the horizon back from the watermark, or from the day's end
        once it is over (a past day keeps its last seconds)."""
        return min(self.watermark, parse_day(name)[1]) - self.rules.seconds_horizon_ms

    def _closing(self) -> list[str]:
        """The days the watermark has closed; each keeps, for its day index, the end of the range in which
        it closed (reading that far sees it close), however late the checkpoint that pops it."""
        lateness = self.rules.allowed_lateness_ms
        closing = sorted(name for name in self.days
                         if parse_day(name)[0] + DAY_MS + lateness <= self.watermark)
        for name in closing:
            if self.days[name].closed_end < 0:
                self.days[name].closed_end = self.end if self.end is not None else 0
        return closing

    def snapshot(self, taken_ms: int, aggregates_from: int) -> tuple[Snapshot, Snapshot]:
        """The records that bring the snapshot topics up to this state: (for the snapshots topic, for the
        state topic). Only what changed since the previous snapshot; call right after a checkpoint."""
        assert self._start is None and self.end is not None, "a snapshot follows a checkpoint"
        p = self.partition
        new_pieces, dropped = self.dedupe.take_changes(self.watermark)
        heads: Snapshot = []
        for name, sales in self.days.items():
            if sales.head_dirty:
                heads.append((snap.day_key(p, name), _day_record(name, sales.head(), closed=False)))
                sales.head_dirty = False
        heads += [(snap.day_key(p, name), _day_record(name, head, closed=True))
                  for name, head in self._closed_heads.items()]
        tables: Snapshot = [(key, None) for key in self._closed_rows]
        for name, sales in self.days.items():
            merchants, products = sales.rows(sales.dirty_merchants)
            tables += [(snap.merchant_key(p, name, m), orjson.dumps(row)) for m, row in merchants]
            tables += [(snap.product_key(p, name, k), orjson.dumps(row)) for k, row in products]
            tables += _details(p, name, sales, sales.dirty_merchants, self._seconds_from(name))
            sales.dirty_merchants.clear()
        tables += self._closed_details
        tables += [(snap.piece_key(p, piece.number), piece.encode()) for piece in new_pieces]
        tables += [(snap.piece_key(p, number), None) for number in dropped]
        state = snap.State(self.end, aggregates_from, self.watermark, sorted(self.days),
                           self.dedupe.pieces_in_use(), taken_ms)
        heads.append((snap.state_key(p), state.encode()))  # last: it names what the others hold
        self._closed_heads.clear()
        self._closed_rows, self._closed_details = [], []
        self.since_snapshot = 0
        return heads, tables

    @classmethod
    def restore(cls, snapshot: snap.PartitionSnapshot, rules: Rules, homes: Homes | None = None
                ) -> PartitionState:
        """The state a snapshot holds (tables included)."""
        state = cls(snapshot.partition, rules, homes)
        for name in snapshot.state.days:
            head = snapshot.heads.get(name)
            if head is None:
                raise ValueError(f"the snapshot names day {name} but holds no record of it")
            state.days[name] = DaySales.restore(head, snapshot.merchants.get(name, {}),
                                                snapshot.products.get(name, {}),
                                                snapshot.details.get(name, {}))
        pieces = [Piece.decode(number, raw) for number, raw in snapshot.pieces.items()]
        state.dedupe.restore(pieces, snapshot.state.watermark)
        state.watermark = state.published_watermark = snapshot.state.watermark
        state.end = snapshot.state.end
        return state

    def recount(self, ranges: Iterable[Range], records: Iterable[LogRecord]) -> None:
        """Count the published ranges after a snapshot again, each by its own clock, publishing nothing:
        the sums then equal the ones the ranges' writer published last. What readers were last sent is
        not worked out range by range: everything is sent again with the next checkpoint (`resend`)."""
        pending = iter(records)
        record = next(pending, None)
        now_ms = 0
        for start, end, now_ms, skip, follow in ranges:
            batch: list[LogRecord] = []
            while record is not None and record.offset() < end:
                if record.offset() >= start:
                    batch.append(record)
                record = next(pending, None)
            self.skip |= skip
            if self.end is None:
                self.end = start
            self._range_now = None  # each range by the clock that judged it
            self.apply_batch(batch, now_ms)
            self.end = max(self.end or end, end)  # control records leave gaps: the range says where it ends
            if follow is not None and follow > self.watermark:
                self.watermark = self._follow = follow  # the step as it was taken: its range is empty
            self._closing()  # as its writer did: a day closed in this range keeps this range's end
        if self.end is not None:
            self.checkpoint(now_ms, force=True)  # published already: closes the days it closed, then
        for sales in self.days.values():
            sales.resend()


def _stamp(record: Any) -> int:
    kind, ts = record.timestamp()
    return int(ts) if kind else -1


def _details(partition: int, name: str, sales: DaySales, merchants: set[str], seconds_from: int | None
             ) -> Snapshot:
    """The merchants' whole details; `seconds_from` None for a closed day: its merchants' minutes only."""
    return [(snap.detail_key(partition, name, m),
             orjson.dumps(sales.details[m].whole(sales.merchants[m], sales.products[m], seconds_from)))
            for m in merchants]


def _explain(days: dict[str, DaySales], ts: int, duplicate: bool) -> None:
    sales = days.get(day_of(ts))  # a duplicate's day holds its first copy, unless that day closed since
    if sales is not None:
        sales.explain(ts - ts % MINUTE_MS, duplicate)


def _clock(record: Any, stamped: bool, now_ms: int) -> int:
    # A replay judges each record by its own stamp; the range's first clock may be hours behind it.
    stamp = _stamp(record) if stamped else -1
    return stamp if stamp >= 0 else now_ms


def _day_record(name: str, head: dict[str, Any], closed: bool) -> bytes:
    return orjson.dumps({"v": snap.VERSION, "day": name, "closed": closed, **head})


def _bucket(table: dict[int, Totals], key: int) -> Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    return totals

