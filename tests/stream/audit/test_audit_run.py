"""The audit's own steps without a broker: a view folded the app's way (stream.store) from checkpoints the
real core makes, the day's records read in rounds up to the view's cut (stream.audit.source), the recount
settled (stream.audit.run) and the verdict. And one defect of the core's view that the audit brought out."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson

from bench.audit import day_records
from stream.audit.recount import Record
from stream.audit.run import settle
from stream.audit.source import DayRecords, Round, plan
from stream.audit.verdict import compare
from stream.core.dayreplay import Span
from stream.core.eventtime import day
from stream.core.partition import PartitionState
from stream.core.record import Record as Hand
from stream.core.routing import Homes
from stream.core.rules import Rules
from stream.core.salesview import SalesView
from stream.store import LoadedView, fold_record, start_from_snapshots
from tests.stream.audit.test_recount import home
from tests.support.orders import order_event

DAY = day("2025-11-28", 1_900_000_000_000, Rules().allowed_lateness_ms)
N = 8
NOW = DAY.end_ms + 400 * 86_400_000  # the worker's clock: long after the day
Log = dict[int, list[Record]]


def a_day(orders: int = 3_000, close: bool = True) -> Log:
    """A load-generator day with its faults, then (`close`) one order per partition two hours after the
    day's end: each partition's watermark passes the close."""
    log: Log = defaultdict(list)
    for record in day_records(DAY.name, orders, N, seed=5):
        log[record.partition].append(record)
    if close:
        for merchant in closers():
            add(log, order_event(merchant_id=merchant, occurred_at=DAY.end_ms + 7_200_000))
    return log


def closers() -> list[str]:
    found: dict[int, str] = {}
    for i in range(500):
        found.setdefault(home(f"closer-{i}"), f"closer-{i}")
    return [found[p] for p in range(N)]


def add(log: Log, event: dict[str, Any] | bytes, partition: int | None = None, ts: int | None = None) -> None:
    if isinstance(event, dict):
        partition, ts = home(event["merchant_id"]), event["occurred_at"]
        event = orjson.dumps(event)
    assert partition is not None and ts is not None
    log[partition].append(Record(partition, len(log[partition]), ts, None, event))


def checkpoints(log: Log, batch: int = 500) -> dict[int, list[bytes]]:
    """What the worker publishes: the live core over each partition's records, a checkpoint a batch."""
    out: dict[int, list[bytes]] = {}
    for partition, rows in log.items():
        state = PartitionState(partition, Rules(), Homes(N))
        out[partition] = []
        for first in range(0, len(rows), batch):
            state.apply_batch([Hand(r.offset, r.value, r.timestamp_ms, partition)
                               for r in rows[first:first + batch]], NOW)
            checkpoint = state.checkpoint(NOW, force=True)
            assert checkpoint is not None
            out[partition].append(checkpoint.encode())
    return out


def view_of(batches: list[list[bytes]]) -> LoadedView:
    """The app's fold: partitions started (no snapshots), records folded, closed days compacted a batch."""
    loaded = LoadedView(SalesView(Rules()))
    start_from_snapshots(loaded.view, list(range(N)), {})
    for batch in batches:
        for raw in batch:
            fold_record(loaded, raw)
        loaded.view.close_days(N)
    return loaded


def spans(log: Log, loaded: LoadedView) -> list[Span]:
    """As reading.locate makes them: from the view's day index to where the day closed, or the end."""
    index = loaded.view.index(DAY.name)
    return [Span(p, c.first, len(log[p]) if c.stop is None else c.stop)
            for p, c in sorted(index.items())]


def reader(log: Log, records: DayRecords) -> Any:
    def read(partitions: set[int]) -> None:
        reading = Round(records, partitions)
        for partition in list(reading.taken):
            for r in log[partition][records.next[partition]:records.stops[partition]]:
                if not reading.add(partition, r.offset, r.timestamp_ms, r.key, r.value):
                    break
    return read


def audit(log: Log, loaded: LoadedView) -> tuple[Any, Any, DayRecords]:
    shown = loaded.view.snapshot(DAY.name)
    cut = {int(p): e for p, e in shown["offsets"].items()}
    records = plan("orders", N, spans(log, loaded), cut, loaded.skip)
    counted = settle(Rules(), records, DAY, reader(log, records))
    return shown, compare(shown, counted, day_closed=counted.day_closed), records


def test_a_day_counted_by_the_real_core_verifies_once_closed() -> None:
    log = a_day()
    loaded = view_of([[raw for rows in checkpoints(log).values() for raw in rows]])
    assert DAY.name in loaded.view.closed_days

    shown, verdict, records = audit(log, loaded)

    assert verdict.ok and verdict.differences == [] and verdict.day_closed
    assert verdict.line.startswith(f"verified: 1,440 minutes, {shown['totals']['orders']:,} orders, ")
    # One read: each partition through the end of the checkpoint range that closed the day there.
    assert records.rounds == 1
    assert {p: last for p, (_, last) in verdict.recount.offsets.items()} == {p: len(log[p]) - 1 for p in log}
    stamped = sum(1 for rows in log.values() for r in rows if DAY.holds(r.timestamp_ms))
    assert verdict.recount.records == stamped


def test_an_open_day_is_compared_at_the_offsets_the_view_has_folded() -> None:
    log = a_day(close=False)
    made = checkpoints(log, batch=100)
    halves = {p: rows[:max(1, len(rows) // 2)] for p, rows in made.items()}  # the view half way
    loaded = view_of([[raw for rows in halves.values() for raw in rows]])
    cut = loaded.view.offsets()
    assert all(cut[str(p)] < len(log[p]) for p in log)  # records past the cut exist and are left out

    shown, verdict, _ = audit(log, loaded)

    assert verdict.ok, verdict.line
    assert verdict.line.endswith("; the day is still open") and not verdict.day_closed
    assert {str(p): last + 1 for p, (_, last) in verdict.recount.offsets.items()} == cut
    assert verdict.recount.totals["orders"] == shown["totals"]["orders"] < sum(
        1 for rows in log.values() for r in rows if r.value and b'"order_placed"' in r.value)


def test_a_record_stamped_past_the_close_that_is_no_order_is_read_through_to_the_close() -> None:
    log = a_day(close=False)
    first = home(closers()[0])
    add(log, b'{"not": "an order"', first, DAY.close_ms + 1)  # stamped past the close, closes nothing
    for merchant in closers():
        add(log, order_event(merchant_id=merchant, occurred_at=DAY.end_ms + 7_200_000))
    loaded = view_of([[raw for rows in checkpoints(log).values() for raw in rows]])

    _, verdict, records = audit(log, loaded)

    assert verdict.ok and verdict.day_closed, verdict.line
    assert records.rounds == 1  # the stop is where the workers closed the day, not where a stamp says
    assert verdict.recount.offsets[first][1] == len(log[first]) - 1


def test_the_view_of_a_closed_day_does_not_depend_on_which_partition_is_folded_first() -> None:
    made = checkpoints(a_day(orders=400))
    at_once = view_of([[raw for rows in made.values() for raw in rows]]).view.snapshot(DAY.name)
    one_by_one = view_of([made[p] for p in sorted(made)]).view.snapshot(DAY.name)
    assert one_by_one["totals"] == at_once["totals"]
    assert one_by_one["minutes"] == at_once["minutes"]
