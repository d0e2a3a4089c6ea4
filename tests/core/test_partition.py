"""The worker's per-partition counting and its checkpoints, without Kafka: offsets, duplicates, crashes."""

from typing import Any

import orjson

from stream.core.checkpoint import Checkpoint, PartitionLedger, fold
from stream.core.order import InvalidOrder
from stream.core.partition import PartitionState
from stream.core.rules import Rules
from tests.support.orders import NOON, order_event

NOW = NOON + 60_000
RULES = Rules()


def fresh(partition: int = 0) -> PartitionState:
    return PartitionState(PartitionLedger(partition), RULES)


def encoded(*events: Any) -> list[bytes]:
    return [orjson.dumps(e) if isinstance(e, dict) else e for e in events]


def run(state: PartitionState, log: list[bytes], start: int = 0, every: int = 3) -> list[bytes]:
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


def day_totals(ledger: PartitionLedger) -> tuple[int, int, int]:
    minutes = ledger.minutes.values()
    return (sum(t.orders for t in minutes), sum(t.gross_cents for t in minutes),
            sum(t.refunds_cents for t in minutes))


def test_orders_count_into_their_event_time_minute() -> None:
    state = fresh()
    state.apply(0, orjson.dumps(order_event(occurred_at=NOON + 59_999, total_minor=1000)), NOW)
    state.apply(1, orjson.dumps(order_event(occurred_at=NOON + 60_000, total_minor=500)), NOW)
    state.apply(2, orjson.dumps(order_event(occurred_at=NOON + 60_001, type="order_refunded",
                                            total_minor=200)), NOW)
    minutes = state.ledger.minutes
    assert minutes[NOON].to_list() == [1, 1000, 0]
    assert minutes[NOON + 60_000].to_list() == [1, 500, 200]


def test_a_duplicate_delivery_counts_once() -> None:
    event = order_event(total_minor=700)
    state = fresh()
    for offset, raw in enumerate(encoded(event, event, event)):
        state.apply(offset, raw, NOW)
    assert day_totals(state.ledger) == (1, 700, 0)
    assert state.duplicates == 2


def test_malformed_input_is_counted_by_reason_and_does_not_touch_totals() -> None:
    state = fresh()
    results = [state.apply(i, raw, NOW) for i, raw in enumerate(
        encoded(b"{oops", order_event(total_minor=-1), order_event(total_minor=300)))]
    assert [r.reason for r in results if isinstance(r, InvalidOrder)] == ["invalid_json", "bad_value"]
    assert state.ledger.rejected == {"invalid_json": 1, "bad_value": 1}
    assert day_totals(state.ledger) == (1, 300, 0)


def test_checkpoints_chain_offsets_and_carry_only_touched_minutes() -> None:
    state = fresh(partition=3)
    log = encoded(order_event(occurred_at=NOON), order_event(occurred_at=NOON + 120_000))
    state.apply(0, log[0], NOW)
    first = state.checkpoint(NOW)
    state.apply(1, log[1], NOW)
    second = state.checkpoint(NOW)
    assert first is not None and second is not None
    assert (first.partition, first.start, first.end) == (3, 0, 1)
    assert (second.start, second.end) == (1, 2)
    assert list(second.minutes) == [NOON + 120_000]
    assert state.checkpoint(NOW) is None  # nothing new, nothing to publish


def test_offsets_already_applied_are_skipped() -> None:
    state = fresh()
    raw = orjson.dumps(order_event(total_minor=100))
    assert state.apply(5, raw, NOW) is True
    assert state.apply(5, raw, NOW) is False
    assert state.apply(4, orjson.dumps(order_event(total_minor=999)), NOW) is False
    assert day_totals(state.ledger) == (1, 100, 0)


def test_a_replayed_or_foreign_checkpoint_is_ignored_by_every_reader() -> None:
    state = fresh()
    log = encoded(*(order_event(total_minor=100 * (i + 1)) for i in range(4)))
    records = run(state, log, every=2)
    ledger = fold(0, records)
    again = Checkpoint.decode(records[0])  # the same record written again after a crash
    assert ledger.accept(again) is False
    assert day_totals(ledger) == (4, 1000, 0)


def test_crash_between_checkpoints_recovers_exactly() -> None:
    # One partition's input: orders, a refund, duplicates and garbage, as Kafka would hold it.
    events = [order_event(total_minor=1000 + i, occurred_at=NOON + i * 7_000) for i in range(20)]
    log = encoded(*events[:10], events[3], b"\xff", *events[10:], events[12],
                  order_event(type="order_refunded", total_minor=555, occurred_at=NOON + 200_000))
    reference = fresh()
    run(reference, log)

    # The worker dies after applying offset 13 but before publishing; its last checkpoint ended at 12.
    crashed = fresh()
    published = run(crashed, log[:12], every=4)
    for offset in range(12, 14):
        crashed.apply(offset, log[offset], NOW)

    # Its successor folds what was published, rebuilds the dedupe memory from the input, re-reads from 12.
    ledger = fold(0, published)
    successor = PartitionState(ledger, RULES)
    assert ledger.dedupe_from is not None and ledger.end == 12
    successor.rebuild_dedupe(((o, log[o]) for o in range(ledger.dedupe_from, ledger.end)), NOW)
    published += run(successor, log, start=8)  # faust may redeliver from an older committed offset

    recovered = fold(0, published)
    assert day_totals(recovered) == day_totals(reference.ledger)
    assert {m: t.to_list() for m, t in recovered.minutes.items()} == {
        m: t.to_list() for m, t in reference.ledger.minutes.items()}
    assert recovered.rejected == {"not_utf8": 1}
    assert day_totals(recovered) == (20, sum(1000 + i for i in range(20)), 555)


def test_checkpoint_round_trips_through_its_encoding() -> None:
    state = fresh(partition=2)
    state.apply(0, orjson.dumps(order_event(currency="JPY", total_minor=1000)), NOW)
    record = state.checkpoint(NOW)
    assert record is not None
    decoded = Checkpoint.decode(record.encode())
    assert decoded.encode() == record.encode()
    assert decoded.minutes == record.minutes and decoded.end == record.end
