"""One answer however a day is counted (issue 18): live in batches of any size, again after a failover from
a snapshot, by replay one record at a time, and by the DuckDB audit, each equal to the reference counter
(tests/support/reference.py) figure by figure, to the cent.

The stateful test writes two partitions' logs (orders, refunds, near and far copies, late and malformed
records, orders in the wrong partition and their rerouted copies) while the live workers count them in
batches of any size, checkpoint, snapshot and fail over at any point. The dedupe memory seals every few
ids here (every 16,384 live) so that a seal falls inside batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import HealthCheck, assume, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from stream.audit.recount import Record as AuditRecord
from stream.audit.recount import recount
from stream.core import eventtime
from stream.core.checkpoint import Checkpoint
from stream.core.dayreplay import DayReplay, Span
from stream.core.partition import PartitionState, Range
from stream.core.record import Record
from stream.core.routing import Homes
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from stream.core.snapshot import PartitionSnapshot, SnapshotFold
from tests.support import reference
from tests.support.orders import NOON, order_event

N = 2  # partitions of the topic
DAY = "2026-11-27"
BEFORE = "2026-11-26"
MIDNIGHT = NOON - 12 * 3_600_000
NOW = MIDNIGHT + 86_400_000  # the live workers' clock: after every record's time
FAR_FUTURE = NOW + 10 * 86_400_000  # future_time by the live clock and by every record's own stamp
RULES = Rules()
SEAL_AT = 4  # ids the dedupe memory takes before sealing them (16,384 live)


def home(merchant_id: str) -> int:
    """The merchant's partition by aiokafka's murmur2 (not the code under test)."""
    return (aiokafka_murmur2(merchant_id.encode()) & 0x7FFFFFFF) % N


MERCHANTS = [m for p in range(N) for m in [f"m{i}" for i in range(1, 40) if home(f"m{i}") == p][:3]]


@dataclass(frozen=True)
class Entry:
    """A record of `orders` as the test wrote it."""

    raw: bytes | None
    stamp: int  # Kafka timestamp
    headers: tuple[tuple[str, bytes], ...] = ()


Logs = dict[int, list[Entry]]


def _seal_often(state: PartitionState) -> PartitionState:
    state.dedupe.seal_at = SEAL_AT
    return state


def expected(logs: Logs, ends: dict[int, int] | None = None,
             live_clock: bool = True) -> list[reference.Partition]:
    """The reference count of each partition's records below `ends`, judged by the live clock or, as replay
    and audit judge them, by each record's own stamp."""
    counted = []
    for p, entries in sorted(logs.items()):
        part = reference.Partition(p, home)
        for entry in entries[:None if ends is None else ends.get(p, 0)]:
            part.feed(entry.raw, entry.stamp, NOW if live_clock else entry.stamp)
        counted.append(part)
    return counted


def shown(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A view's day, less what the reference does not count (final flags, the shopper estimate, seconds)."""
    totals = {k: snapshot["totals"][k] for k in ("orders", "gross_cents", "refunds_cents", "net_cents")}
    minutes = [{k: m[k] for k in ("start_ms", "orders", "gross_cents", "refunds_cents")}
               for m in snapshot["minutes"]]
    keys = ("countries", "channels", "top_merchants", "top_products", "dead_letters", "late_events",
            "rerouted")
    return {"totals": totals, "minutes": minutes, **{k: snapshot[k] for k in keys}}


def days_of(parts: Iterable[reference.Partition]) -> list[str]:
    """The reference's days, the day under test, and the live clock's (where a dead letter may be tallied)."""
    return sorted({name for part in parts for name in part.days} | {DAY, reference.day_name(NOW)})


def replayed(logs: Logs) -> SalesView:
    """The day replayed: each partition's records one at a time through DayReplay, its checkpoints folded."""
    day = eventtime.day(DAY, now_ms=NOW, allowed_lateness_ms=RULES.allowed_lateness_ms)
    spans = [Span(p, 0, len(entries)) for p, entries in sorted(logs.items())]
    reader = DayReplay(day, RULES, spans, wall_ms=lambda: NOW, partitions=N)
    for state in reader.states.values():
        _seal_often(state)
    for p, entries in sorted(logs.items()):
        for offset, entry in enumerate(entries):
            if not reader.feed(Record(offset, entry.raw, entry.stamp, p)):
                break
    view = SalesView(RULES)
    for checkpoint in reader.cut():
        view.accept(checkpoint)
    return view


def audited(logs: Logs) -> dict[str, Any]:
    """The audit's recount of the day, in the reference's shape."""
    records = [AuditRecord(p, offset, entry.stamp, None, entry.raw, entry.headers)
               for p, entries in sorted(logs.items()) for offset, entry in enumerate(entries)]
    found = recount(records, DAY, N, grace_ms=RULES.grace_ms, allowed_lateness_ms=RULES.allowed_lateness_ms,
                    dedupe_horizon_ms=RULES.dedupe_horizon_ms, max_future_ms=RULES.max_future_ms)
    totals = {k: found.totals[k] for k in ("orders", "gross_cents", "refunds_cents", "net_cents")}
    return {"totals": totals, "minutes": found.minutes, "countries": found.countries,
            "channels": found.channels, "top_merchants": found.top_merchants,
            "top_products": found.top_products, "dead_letters": found.dead_letters,
            "late_events": found.late_events}


def one_clock(logs: Logs) -> bool:
    """Whether the reference gives the same figures judged by the live clock and by each record's stamp: not
    so where the contract itself names the judging clock (a record with no usable stamp)."""
    truth, by_stamp = expected(logs), expected(logs, live_clock=False)
    return all(reference.figures(truth, name) == reference.figures(by_stamp, name) for name in days_of(truth))


def assert_days(found: Callable[[str], dict[str, Any]], truth: list[reference.Partition], what: str,
                by_day: bool = True) -> None:
    """Every day's figures equal the reference's. With `by_day` False the dead letters and reroutes are held
    to the reference summed over the days (which day takes one: test_a_dead_letter_counts_in_its_own_...)."""
    names = days_of(truth)
    got = {name: found(name) for name in names}
    want = {name: reference.figures(truth, name) for name in names}
    if not by_day:
        for days in (got, want):
            dead: dict[str, int] = {}
            for figures in days.values():
                for reason, n in figures.pop("dead_letters").items():
                    dead[reason] = dead.get(reason, 0) + n
            rerouted = sum(figures.pop("rerouted") for figures in days.values())
            days["every day"] = {"dead_letters": dead, "rerouted": rerouted}
    differ = {(day, k): (got[day].get(k), want[day].get(k)) for day in want for k in want[day]
              if got[day].get(k) != want[day].get(k)}
    assert not differ, f"{what}: (day, figure): (found, the reference's) {differ}"


def assert_one_answer(logs: Logs, live: SalesView, states: dict[int, PartitionState],
                      by_day: bool = True) -> None:
    """Live (folded), replay and audit each equal the reference."""
    truth = expected(logs)
    assert one_clock(logs), "the records' figures depend on the clock that judges them"
    assert_days(lambda name: shown(live.snapshot(name)), truth, "live", by_day)
    for part in truth:
        assert states[part.number].watermark == part.watermark, f"live watermark of partition {part.number}"
    again = replayed(logs)
    assert_days(lambda name: shown(again.snapshot(name)), truth, "replay")
    # The audit has no `rerouted` figure (it lists misplaced orders by their own time instead).
    audit = {k: v for k, v in reference.figures(truth, DAY).items() if k != "rerouted"}
    assert audited(logs) == audit, "audit"


def counted_live(logs: Logs, batch: int) -> tuple[SalesView, dict[int, PartitionState]]:
    """Each partition counted in batches of `batch` records (no reroutes: the logs hold their copies)."""
    view = SalesView(RULES)
    states = {}
    for p, entries in sorted(logs.items()):
        state = states[p] = PartitionState(p, RULES, Homes(N))
        for first in range(0, len(entries), batch):
            state.apply_batch([Record(o, entries[o].raw, entries[o].stamp, p)
                               for o in range(first, min(first + batch, len(entries)))], NOW)
            checkpoint = state.checkpoint(NOW)
            if checkpoint is not None:
                view.accept(checkpoint)
    return view, states


# -- the cases of the issue -------------------------------------------------------------------------------

def _log(*events: dict[str, Any] | bytes) -> Logs:
    entries = [Entry(e if isinstance(e, bytes) else orjson.dumps(e), NOON) for e in events]
    return {home("m1"): entries}


def test_copies_after_a_dedupe_seal_in_the_same_batch_count_once() -> None:
    distinct = [order_event(event_id=f"seal-{i}", merchant_id="m1", occurred_at=NOON + i % 997,
                            total_minor=100) for i in range(16_384)]
    logs = _log(*distinct, distinct[0], distinct[1])  # the 16,384th id seals the memory; then two copies
    for batch in (16_386, 16_384, 1_000):
        view, states = counted_live(logs, batch)
        assert view.snapshot(DAY)["totals"]["orders"] == 16_384, f"batches of {batch}"
        assert states[home("m1")].duplicates == 2
    assert_one_answer(logs, *counted_live(logs, 16_386))


def test_a_repeated_key_is_a_dead_letter_everywhere() -> None:
    valid = orjson.dumps(order_event(merchant_id="m1", total_minor=5000))
    twice = valid.replace(b'"total_minor":5000', b'"total_minor":5000,"total_minor":100')
    escaped = valid.replace(b'"total_minor":5000', b'"total_minor":5000,"\\u0074otal_minor":100')
    in_line = valid.replace(b'"qty":1', b'"qty":1,"qty":2')
    logs = _log(order_event(merchant_id="m1", total_minor=7), twice, escaped, in_line)
    view, states = counted_live(logs, 4)
    assert view.snapshot(DAY)["dead_letters"] == {"duplicate_key": 3}
    assert_one_answer(logs, view, states)


def test_ties_rank_by_key_ascending_everywhere() -> None:
    line = {"title": "Mug", "qty": 1, "price_minor": 500}
    sales = [("m4", "US", "pos", "b"), ("m1", "DE", "online", "b"), ("m3", "AT", "social", "a"),
             ("m1", "FR", "mobile", "a")]  # four nets of $5: every list ties
    logs = _log(*(order_event(merchant_id=m, country=c, channel=ch, total_minor=500,
                              lines=[{**line, "sku": s}]) for m, c, ch, s in sales))
    view, states = counted_live(logs, 2)
    assert [m["merchant_id"] for m in view.snapshot(DAY)["top_merchants"]] == ["m1", "m3", "m4"]
    assert_one_answer(logs, view, states)


def test_a_dead_letter_counts_in_its_own_day_however_its_partition_is_batched() -> None:
    junk = Entry(b"{not json", MIDNIGHT - 10 * 60_000)  # its day, the day before, is open when it comes
    closing = MIDNIGHT + 61 * 60_000  # then an order closes that day
    order = Entry(orjson.dumps(order_event(merchant_id="m1", occurred_at=closing)), closing)
    logs = {home("m1"): [junk, order]}
    assert reference.figures(expected(logs), BEFORE)["dead_letters"] == {"invalid_json": 1}
    for batch in (1, 2):
        view, _ = counted_live(logs, batch)
        assert shown(view.snapshot(BEFORE))["dead_letters"] == {"invalid_json": 1}, f"batches of {batch}"


def test_a_replayed_dead_letter_counts_in_the_day_of_its_own_stamp() -> None:
    logs = {0: [Entry(b"{not json", MIDNIGHT - 20 * 60_000), Entry(b"[1]", MIDNIGHT + 60_000)]}
    view = replayed(logs)
    want = reference.figures(expected(logs), DAY)["dead_letters"]
    assert shown(view.snapshot(DAY))["dead_letters"] == want == {"not_object": 1}


def test_a_dead_letter_of_a_closed_day_counts_in_one_day_live_replayed_and_audited() -> None:
    stray = order_event(merchant_id="m1", occurred_at=MIDNIGHT - 60_000)  # found in the wrong partition
    closing = MIDNIGHT + 61 * 60_000
    # Its rerouted copy lands after an order that closed its day: too late, stamped in the closed day.
    logs = {home("m1"): [Entry(orjson.dumps(order_event(merchant_id="m1", occurred_at=closing)), closing),
                         Entry(orjson.dumps(stray), MIDNIGHT - 60_000, (("rerouted_from", b"orders/1/0"),))],
            1 - home("m1"): [Entry(orjson.dumps(stray), MIDNIGHT - 60_000)]}
    live, _ = counted_live(logs, 1)
    replay = replayed(logs)
    assert [shown(v.snapshot(name))["dead_letters"] for v in (live, replay) for name in (BEFORE, DAY)] == [
        shown(replay.snapshot(name))["dead_letters"] for name in (BEFORE, DAY)] * 2


# -- any stream, any split, any failover ------------------------------------------------------------------

def _event(at: int, **fields: Any) -> bytes:
    return orjson.dumps(order_event(occurred_at=at, **fields))


MALFORMED: dict[str, Callable[[int], bytes | None]] = {  # one fault each, for a record written at `at`
    "invalid_json": lambda at: b"{not json",
    "tombstone": lambda at: None,
    "not_object": lambda at: b"[1, 2]",
    "missing_field": lambda at: orjson.dumps({k: v for k, v in order_event(occurred_at=at).items()
                                              if k != "customer_id"}),
    "wrong_type": lambda at: _event(at, total_minor="2500"),
    "bad_value": lambda at: _event(at, channel="fax"),
    "country": lambda at: _event(at, country="us"),
    "unknown_currency": lambda at: _event(at, currency="XBT"),
    "absurd_amount": lambda at: _event(at, total_minor=10**11),
    "too_old": lambda at: _event(at // 1000),
    "future_time": lambda at: _event(FAR_FUTURE),
    "not_utf8": lambda at: _event(at, merchant_name="x").replace(b'"x"', b'"\xff"'),
    "oversize": lambda at: _event(at, note="x" * 65_536),
}
STEPS = st.sampled_from([1, 500, 20_000, 61_000, 5 * 60_000, 16 * 60_000, 61 * 60_000])
BACK = st.sampled_from([0, 0, 0, 2_000, 50_000, 10 * 60_000, 61 * 60_000, -1])  # -1: the day before's end
LINES = st.lists(st.tuples(st.sampled_from(["a", "b", "é", "B"]), st.integers(1, 3),
                           st.sampled_from([0, 250, 500])), max_size=3)


class Workers(RuleBasedStateMachine):
    """Two partitions' logs, their live workers, the view that folds what they publish, and snapshots."""

    # Dead letters and reroutes held to the reference day by day (False: summed over the days).
    by_day = True

    @initialize()
    def start(self) -> None:
        self.clock = MIDNIGHT - 20 * 60_000
        self.logs: Logs = {p: [] for p in range(N)}
        self.sent: list[tuple[int, dict[str, Any]]] = []  # valid orders written: (partition, event)
        self.view = SalesView(RULES)
        self.states = {p: _seal_often(PartitionState(p, RULES, Homes(N))) for p in range(N)}
        self.published: dict[int, list[Checkpoint]] = {p: [] for p in range(N)}
        self.copies: dict[int, list[Entry]] = {p: [] for p in range(N)}  # reroutes of the unpublished range
        self.snapshot_records: dict[int, list[tuple[bytes, bytes | None]]] = {p: [] for p in range(N)}
        self.snapshots: dict[int, int] = {}  # partition -> checkpoints published before its newest snapshot

    # -- writing the logs ------------------------------------------------------------------------------

    @rule(step=STEPS)
    def time_passes(self, step: int) -> None:
        self.clock = min(self.clock + step, MIDNIGHT + 20 * 3_600_000)

    @rule(merchant=st.sampled_from(MERCHANTS), refund=st.booleans(), back=BACK, stray=st.integers(0, 5),
          currency=st.sampled_from(["USD", "USD", "JPY", "KWD", "EUR"]),
          total=st.sampled_from([100, 250, 1_005]),
          country=st.sampled_from(["US", "DE", "JP"]), channel=st.sampled_from(["online", "pos", "mobile"]),
          name=st.sampled_from(["Shop", "Shop Ltd"]), lines=LINES, times=st.integers(1, 4))
    def orders(self, merchant: str, refund: bool, back: int, stray: int, currency: str, total: int,
               country: str, channel: str, name: str, lines: list[tuple[str, int, int]], times: int) -> None:
        """`times` alike orders (each its own id), at the clock or `back` behind it."""
        at = min(self.clock, MIDNIGHT - 1) if back < 0 else self.clock - back
        for _ in range(times):
            event = order_event(merchant_id=merchant, merchant_name=name, occurred_at=at, currency=currency,
                                total_minor=total, country=country, channel=channel,
                                type="order_refunded" if refund else "order_placed",
                                lines=[{"sku": s, "title": f"T{s}", "qty": q, "price_minor": p}
                                       for s, q, p in lines])
            partition = home(merchant) if stray else 1 - home(merchant)  # a sixth land in the wrong partition
            self._write(partition, orjson.dumps(event))
            self.sent.append((partition, event))

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 10**6), retimed=st.booleans())
    def copy(self, pick: int, retimed: bool) -> None:
        """A redelivery of an earlier order, as it was or with another time, where the original went."""
        partition, event = self.sent[pick % len(self.sent)]
        self._write(partition, orjson.dumps({**event, "occurred_at": self.clock} if retimed else event))

    @rule(kind=st.sampled_from(sorted(MALFORMED)), partition=st.integers(0, N - 1))
    def malformed(self, kind: str, partition: int) -> None:
        self._write(partition, MALFORMED[kind](self.clock))

    @rule(partition=st.integers(0, N - 1), key=st.sampled_from([b"total_minor", b"\\u0074otal_minor"]))
    def repeated_key(self, partition: int, key: bytes) -> None:
        raw = orjson.dumps(order_event(merchant_id=MERCHANTS[partition * 3], occurred_at=self.clock))
        self._write(partition, raw.replace(b'"total_minor":2500', b'"total_minor":2500,"' + key + b'":100'))

    def _write(self, partition: int, raw: bytes | None) -> None:
        # Stamped when written: a late order's stamp is its arrival, so each way tallies it in one day.
        self.logs[partition].append(Entry(raw, self.clock))

    # -- the live workers ------------------------------------------------------------------------------

    def _next(self, p: int) -> int:
        end = self.states[p].end
        return 0 if end is None else end

    @rule(partition=st.integers(0, N - 1), size=st.integers(1, 12))
    def count(self, partition: int, size: int) -> None:
        first = self._next(partition)
        entries = self.logs[partition][first:first + size]
        applied = self.states[partition].apply_batch(
            [Record(first + i, e.raw, e.stamp, partition) for i, e in enumerate(entries)], NOW)
        for record, to, _ in applied.rerouted:
            origin = f"orders/{partition}/{record.offset()}".encode()
            copy = Entry(record.value(), record.timestamp()[1], (("rerouted_from", origin),))
            self.copies[partition].append(copy)
            assert to == 1 - partition

    @rule(partition=st.integers(0, N - 1))
    def checkpoint(self, partition: int) -> None:
        """Publish: the checkpoint, and in its transaction the reroutes' copies."""
        checkpoint = self.states[partition].checkpoint(NOW)
        if checkpoint is not None:
            self.published[partition].append(checkpoint)
            assert self.view.accept(Checkpoint.decode(checkpoint.encode()))
        for entry in self.copies[partition]:
            self.logs[1 - partition].append(entry)
        self.copies[partition] = []

    @rule(partition=st.integers(0, N - 1))
    def snapshot(self, partition: int) -> None:
        self.checkpoint(partition)
        state = self.states[partition]
        if state.end is None:
            return
        heads, tables = state.snapshot(taken_ms=1, aggregates_from=len(self.published[partition]))
        self.snapshot_records[partition] += [*tables, *heads]
        self.snapshots[partition] = len(self.published[partition])

    def _read_snapshot(self, partition: int) -> PartitionSnapshot:
        """The newest snapshot as a successor or a reader reads it: the two topics folded afresh."""
        fold = SnapshotFold(partition)
        for key, value in self.snapshot_records[partition]:
            fold.add(key, value)
        taken = fold.result(with_tables=True)
        assert taken is not None
        return taken

    @rule(partition=st.integers(0, N - 1))
    def failover(self, partition: int) -> None:
        """The worker dies (what it had not published is lost); a successor restores the newest snapshot and
        recounts the ranges published after it."""
        if partition in self.snapshots:
            before = self.snapshots[partition]
            successor = _seal_often(PartitionState.restore(self._read_snapshot(partition), RULES, Homes(N)))
        else:
            successor, before = _seal_often(PartitionState(partition, RULES, Homes(N))), 0
        after = self.published[partition][before:]
        log = self.logs[partition]
        successor.recount([Range(c.start, c.end, c.now_ms, frozenset(c.skip)) for c in after],
                          (Record(o, log[o].raw, log[o].stamp, partition)
                           for o in range(after[0].start if after else 0, after[-1].end if after else 0)))
        self.states[partition] = successor
        self.copies[partition] = []
        event("failover after a snapshot" if before else "failover from the start")

    @invariant()
    def published_figures_are_the_references(self) -> None:
        ends = {p: c[-1].end if c else 0 for p, c in self.published.items()}
        truth = expected(self.logs, ends)
        assert_days(lambda name: shown(self.view.snapshot(name)), truth, "published", self.by_day)

    def teardown(self) -> None:
        for _ in range(2):  # every record, then the copies of the reroutes among them
            for p in range(N):
                self.count(p, 10**6)
                self.checkpoint(p)
        for outcome in sorted({o for part in expected(self.logs) for o in part.outcomes}):
            event(outcome)  # --hypothesis-show-statistics: how often each kind of record was met
        assume(one_clock(self.logs))  # else the contract names the clock: live and replay may differ
        assert_one_answer(self.logs, self.view, self.states, self.by_day)
        self._reader_from_snapshots()

    def _reader_from_snapshots(self) -> None:
        """A reader that starts from the newest snapshots and folds the checkpoints after them."""
        reader = SalesView(RULES)
        reader.start({p: self._read_snapshot(p) for p in self.snapshots}, N)
        for p, checkpoints in self.published.items():
            for checkpoint in checkpoints[self.snapshots.get(p, 0):]:
                reader.accept(checkpoint)
        truth = expected(self.logs)
        assert_days(lambda name: shown(reader.snapshot(name)), truth, "reader from snapshots", self.by_day)


# The examples the assume() in teardown sets aside are not a sign of a bad strategy here.
Workers.TestCase.settings = settings(suppress_health_check=[HealthCheck.filter_too_much,
                                                            HealthCheck.too_slow])
TestWorkers = Workers.TestCase
