"""The worker's per-partition counting and what it publishes, without Kafka: offsets, duplicates, crashes,
snapshots and the recount that takes a partition over."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from stream.core.checkpoint import Checkpoint, PartitionLedger, Unreadable, fold
from stream.core.order import InvalidOrder
from stream.core.partition import PartitionState, PoisonRecord, Range
from stream.core.record import Record
from stream.core.routing import Homes, partition_for
from stream.core.rules import Rules
from tests.support.core import day_totals, dead, encoded, fresh, minutes, snapshot_of
from tests.support.orders import NOON, order_event

NOW = NOON + 60_000
RULES = Rules()


def run(state: PartitionState, log: list[bytes | None], start: int = 0, every: int = 3) -> list[bytes]:
    """Apply log[start:] and checkpoint every `every` messages; returns the encoded checkpoints."""
    records = []
    for offset in range(start, len(log)):
        state.apply(offset, log[offset], NOW)
        if (offset + 1) % every == 0:
            record = state.checkpoint(NOW)
            if record is not None:
                records.append(record.encode())
    last = state.checkpoint(NOW)
    if last is not None:
        records.append(last.encode())
    return records


def test_orders_count_into_their_event_time_minute() -> None:
    state = fresh()
    state.apply(0, orjson.dumps(order_event(occurred_at=NOON + 59_999, total_minor=1000)), NOW)
    state.apply(1, orjson.dumps(order_event(occurred_at=NOON + 60_000, total_minor=500)), NOW)
    state.apply(2, orjson.dumps(order_event(occurred_at=NOON + 60_001, type="order_refunded",
                                            total_minor=200)), NOW)
    assert minutes(state) == {NOON: [1, 1000, 0], NOON + 60_000: [1, 500, 200]}


def test_a_duplicate_delivery_counts_once() -> None:
    event = order_event(total_minor=700)
    state = fresh()
    for offset, raw in enumerate(encoded(event, event, event)):
        state.apply(offset, raw, NOW)
    assert state.duplicates == 2
    assert day_totals(state) == (1, 700, 0)


def test_a_copy_after_the_dedupe_memory_seals_within_its_batch_is_still_a_duplicate() -> None:
    # 16,384 distinct orders seal the recent ids; the two copies after them in the same batch are copies of
    # orders sealed away mid-batch (issue 18: counted twice at 8ea470f), and must count once however split.
    seal_at = 16_384
    events = [order_event(total_minor=100) for _ in range(seal_at)]
    log = encoded(*events, events[0], events[-1])
    whole, split = fresh(), fresh()
    whole.apply_batch([Record(o, raw) for o, raw in enumerate(log)], NOW)
    split.apply_batch([Record(o, raw) for o, raw in enumerate(log[:seal_at])], NOW)
    split.apply_batch([Record(o, raw) for o, raw in enumerate(log) if o >= seal_at], NOW)
    for state in (whole, split):
        assert day_totals(state) == (seal_at, seal_at * 100, 0)
        assert state.duplicates == 2


def test_malformed_input_is_counted_by_reason_in_its_day_and_does_not_touch_totals() -> None:
    state = fresh()
    results = [state.apply(o, raw, NOW) for o, raw in enumerate(
        encoded(b"{not json", order_event(total_minor=300), order_event(country="usa")))]
    assert isinstance(results[0], InvalidOrder) and results[0].reason == "invalid_json"
    assert dead(state) == {"invalid_json": 1, "bad_value": 1}
    assert list(state.days) == ["2026-11-27"]  # unstamped records count in the day of the clock
    assert day_totals(state) == (1, 300, 0)


def test_checkpoints_chain_offsets_and_carry_only_what_changed() -> None:
    state = fresh()
    log = encoded(order_event(occurred_at=NOON), order_event(occurred_at=NOON + 1),
                  order_event(occurred_at=NOON + 120_000))
    decoded = [Checkpoint.decode(raw) for raw in run(state, log, every=2)]
    assert [(c.start, c.end) for c in decoded] == [(0, 2), (2, 3)]
    assert list(decoded[0].days["2026-11-27"]["m"]) == [str(NOON)]
    assert list(decoded[1].days["2026-11-27"]["m"]) == [str(NOON + 120_000)]  # only the touched minute
    assert "co" in decoded[0].days["2026-11-27"] and "co" in decoded[1].days["2026-11-27"]
    assert decoded[1].days["2026-11-27"]["t"] == [3, 7500, 0]  # the day's totals, absolute


def test_offsets_already_applied_are_skipped() -> None:
    state = fresh()
    raw = orjson.dumps(order_event(total_minor=100))
    assert state.apply(5, raw, NOW) is True
    assert state.apply(5, orjson.dumps(order_event(total_minor=999)), NOW) is False
    assert day_totals(state) == (1, 100, 0)


def test_a_replayed_or_foreign_checkpoint_is_ignored_by_every_reader() -> None:
    state = fresh()
    log = encoded(*(order_event(total_minor=100 * (i + 1)) for i in range(4)))
    records = run(state, log, every=2)
    ledger = fold(0, records)
    again = Checkpoint.decode(records[0])  # the same record written again after a crash
    assert ledger.accept(again) is False
    assert day_totals(ledger) == (4, 1000, 0)


@pytest.mark.parametrize("raw", [b"1", b"[]", b"not json", b"{}", b'{"v": 2}', b'{"v": 3, "p": "0"}', None])
def test_a_record_that_is_not_a_checkpoint_is_unreadable_not_a_crash(raw: bytes | None) -> None:
    with pytest.raises(Unreadable):
        Checkpoint.decode(raw)


def test_checkpoint_round_trips_through_its_encoding() -> None:
    state = fresh(partition=2)
    state.apply(0, orjson.dumps(order_event(currency="JPY", total_minor=1000)), NOW)
    record = state.checkpoint(NOW)
    assert record is not None
    decoded = Checkpoint.decode(record.encode())
    assert decoded.encode() == record.encode()
    assert decoded.end == record.end == 1 and decoded.partition == 2


def mixed(n: int) -> list[bytes | None]:
    events: list[Any] = [order_event(total_minor=1000 + i, occurred_at=NOON + i * 7_000,
                                     customer_id=f"c{i % 7}") for i in range(n)]
    return encoded(*events[: n // 2], events[3], b"\xff", *events[n // 2:], events[n // 2 + 2],
                   order_event(type="order_refunded", total_minor=555, occurred_at=NOON + 200_000))


def flush(state: PartitionState) -> bytes:
    """What an idle partition publishes once its sketch is due again."""
    record = state.checkpoint(NOW + RULES.sketch_every_ms, force=True)
    assert record is not None and all("u" in day for day in record.days.values())
    return record.encode()


def published_ranges(records: list[bytes]) -> list[Range]:
    return [Range(c.start, c.end, c.now_ms, frozenset(c.skip)) for c in map(Checkpoint.decode, records)]


def test_a_successor_loads_the_snapshot_and_recounts_the_ranges_after_it_exactly() -> None:
    log = mixed(20)
    reference = fresh()
    reference_records = run(reference, log)
    reference_records.append(flush(reference))

    # The owner snapshots after offset 9, publishes up to 15, then dies after applying two more.
    owner = fresh()
    published = run(owner, log[:9], every=4)
    taken = snapshot_of(owner)
    published += run(owner, log, start=9, every=3)[:2]
    last_end = Checkpoint.decode(published[-1]).end
    after = [Checkpoint.decode(r) for r in published if Checkpoint.decode(r).start >= taken.state.end]

    successor = PartitionState.restore(taken, RULES)
    successor.recount(published_ranges([c.encode() for c in after]),
                      (Record(o, log[o]) for o in range(taken.state.end, last_end)))
    assert successor.end == last_end
    published += run(successor, log, start=last_end)  # reads on from the chain's end
    published.append(flush(successor))

    # Every reader folds the chain to the same figures as the worker that never died.
    recovered, expected = fold(0, published), fold(0, reference_records)
    assert minutes(recovered) == minutes(expected) == minutes(reference)
    assert dead(recovered) == {"not_utf8": 1}
    assert day_totals(recovered) == (20, sum(1000 + i for i in range(20)), 555)
    day = "2026-11-27"
    assert recovered.days[day].top_merchants == expected.days[day].top_merchants
    assert recovered.days[day].customers().estimate() == expected.days[day].customers().estimate() == 7


def test_a_snapshot_writes_only_what_changed_since_the_previous_one() -> None:
    state = fresh()
    run(state, encoded(*(order_event(merchant_id=f"m{i}", occurred_at=NOON + i) for i in range(5))))
    heads, tables = state.snapshot(taken_ms=1, aggregates_from=0)
    assert sum(1 for key, _ in tables if orjson.loads(key)[1] == "m") == 5
    run(state, encoded(order_event(merchant_id="m2", occurred_at=NOON + 9)), start=0)
    state.apply(5, orjson.dumps(order_event(merchant_id="m2", occurred_at=NOON + 9)), NOW)
    state.checkpoint(NOW)
    heads, tables = state.snapshot(taken_ms=2, aggregates_from=0)
    rows = [orjson.loads(key) for key, _ in tables if orjson.loads(key)[1] == "m"]
    assert rows == [[0, "m", "2026-11-27", "m2"]]
    assert [orjson.loads(key)[1] for key, _ in heads] == ["day", "state"]  # the state record comes last


def test_a_closed_day_leaves_a_final_record_and_its_rows_are_deleted() -> None:
    state = fresh()
    state.apply(0, orjson.dumps(order_event(occurred_at=NOON)), NOW)
    state.checkpoint(NOW)
    state.snapshot(taken_ms=1, aggregates_from=0)
    next_day = NOON + 86_400_000
    state.apply(1, orjson.dumps(order_event(occurred_at=next_day)), next_day)
    record = state.checkpoint(next_day)
    assert record is not None and record.closed == ["2026-11-27"]
    heads, tables = state.snapshot(taken_ms=2, aggregates_from=0)
    final = {orjson.loads(k)[2]: orjson.loads(v) for k, v in heads if orjson.loads(k)[1] == "day"}
    assert final["2026-11-27"]["closed"] is True and final["2026-11-27"]["t"] == [1, 2500, 0]
    assert final["2026-11-28"]["closed"] is False
    deleted = [orjson.loads(k) for k, v in tables if v is None]
    assert [0, "m", "2026-11-27", "m00001"] in deleted
    assert [0, "p", "2026-11-27", "m00001", "m00001-p001"] in deleted


def test_a_valid_order_of_another_partitions_merchant_is_rerouted_not_counted() -> None:
    homes = Homes(8)
    mine = next(f"m{i}" for i in range(100) if partition_for(f"m{i}".encode(), 8) == 3)
    theirs = next(f"m{i}" for i in range(100) if partition_for(f"m{i}".encode(), 8) != 3)
    state = PartitionState(3, RULES, homes)
    applied = state.apply_batch([Record(0, orjson.dumps(order_event(merchant_id=mine))),
                                 Record(1, orjson.dumps(order_event(merchant_id=theirs))),
                                 Record(2, b"junk")], NOW)
    assert [(r.offset(), home, m) for r, home, m in applied.rerouted] == [
        (1, partition_for(theirs.encode(), 8), theirs)]
    assert [r.offset() for r, _ in applied.rejected] == [2]
    assert day_totals(state) == (1, 2500, 0)
    assert state.days["2026-11-27"].rerouted == 1


def test_an_error_while_counting_is_a_poison_record_and_a_recount_passes_it_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from stream.core import daysales

    log = encoded(*(order_event(merchant_id=f"m{i}", occurred_at=NOON + i) for i in range(4)))
    real_add = daysales.DaySales.add

    def broken(self: daysales.DaySales, order: Any, refund: bool, second: int = -1) -> None:
        if order.merchant_id == "m2":
            raise ZeroDivisionError("a bug in counting")
        real_add(self, order, refund, second)

    monkeypatch.setattr(daysales.DaySales, "add", broken)
    state = fresh()
    with pytest.raises(PoisonRecord) as poison:
        state.apply_batch([Record(o, raw) for o, raw in enumerate(log)], NOW)
    assert poison.value.offset == 2
    # The worker rebuilds the partition and applies the batch again, passing the record over.
    rebuilt = fresh()
    rebuilt.skip.add(2)
    rebuilt.apply_batch([Record(o, raw) for o, raw in enumerate(log)], NOW)
    record = rebuilt.checkpoint(NOW)
    assert record is not None and record.skip == [2] and record.end == 4
    assert day_totals(rebuilt) == (3, 7500, 0)


def test_a_decoding_error_of_any_kind_is_a_dead_letter_with_the_exception(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from stream.core import partition

    def exploding(raw: bytes | None, now_ms: int, max_future_ms: int) -> Any:
        raise MemoryError("the decoder fell over")

    monkeypatch.setattr(partition, "parse_order", exploding)
    state = fresh()
    applied = state.apply_batch([Record(0, orjson.dumps(order_event()))], NOW)
    ((_, rejection),) = applied.rejected
    assert rejection.reason == "internal_error" and "the decoder fell over" in rejection.detail
    assert dead(state) == {"internal_error": 1}


def test_a_reader_ledger_holds_only_the_top_tens_of_a_day() -> None:
    state = fresh()
    for i in range(30):
        state.apply(i, orjson.dumps(order_event(merchant_id=f"m{i:02d}", total_minor=100 + i,
                                                lines=[{"sku": "s", "title": "t", "qty": 1,
                                                        "price_minor": 100 + i}])), NOW)
    record = state.checkpoint(NOW)
    assert record is not None
    ledger = PartitionLedger(0)
    ledger.accept(record)
    view = ledger.days["2026-11-27"]
    assert view.top_merchants == [f"m{i:02d}" for i in range(29, 19, -1)]
    assert set(view.merchants) == set(view.top_merchants) and len(view.products) == 10
