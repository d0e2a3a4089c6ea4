"""Counting a batch of messages at once gives exactly what counting them one at a time gives."""

import random
from collections import Counter

import orjson

from stream.core.checkpoint import PartitionLedger, fold
from stream.core.eventtime import MINUTE_MS
from stream.core.partition import PartitionState
from stream.core.record import Record
from stream.core.rules import Rules
from tests.support.core import dead, late, minutes
from tests.support.orders import NOON, order_event

HOUR = 3_600_000
NOW = NOON + 48 * HOUR
RULES = Rules(dedupe_horizon_ms=10 * MINUTE_MS)  # short, so ids leave the memory within the log


def mixed_log(seed: int, size: int = 3000) -> list[bytes | None]:
    """Orders over two days with refunds, redeliveries, stragglers (some past their day's close) and junk."""
    rng = random.Random(seed)
    log: list[bytes | None] = []
    clock = NOON
    for i in range(size):
        roll = rng.random()
        if roll < 0.05 and log:
            log.append(rng.choice(log[-300:]))  # a redelivery, sometimes from beyond the dedupe horizon
        elif roll < 0.08:
            log.append(rng.choice([b"{", b"\xff", None, orjson.dumps(order_event(country="us")),
                                   orjson.dumps(order_event(total_minor=0))]))
        else:
            clock += rng.randrange(0, 60_000)
            at = clock - rng.randrange(0, 30 * HOUR) if rng.random() < 0.05 else clock
            log.append(orjson.dumps(order_event(
                event_id=f"b{seed}-{i}", occurred_at=at, merchant_id=f"m{rng.randrange(5)}",
                type="order_refunded" if rng.random() < 0.1 else "order_placed",
                country=rng.choice(["US", "DE", "JP"]), currency=rng.choice(["USD", "EUR", "JPY", "KWD"]),
                total_minor=rng.randrange(1, 100_000), customer_id=f"c{rng.randrange(50)}",
                lines=[{"sku": f"s{rng.randrange(20)}", "title": "t", "qty": rng.randrange(1, 4),
                        "price_minor": rng.randrange(0, 5000)} for _ in range(rng.randrange(1, 4))])))
    return log


def one_at_a_time(log: list[bytes | None]) -> tuple[PartitionState, list[bytes], list[str]]:
    state = PartitionState(0, RULES)
    reasons = []
    records = []
    for offset, raw in enumerate(log):
        result = state.apply(offset, raw, NOW)
        if not isinstance(result, bool):
            reasons.append(result.reason)
        if offset % 100 == 99:
            records.append(state.checkpoint(NOW))
    records.append(state.checkpoint(NOW))
    records.append(state.checkpoint(NOW + RULES.sketch_every_ms, force=True))  # the idle flush
    return state, [r.encode() for r in records if r is not None], reasons


def in_batches(log: list[bytes | None], seed: int) -> tuple[PartitionState, list[bytes], list[str]]:
    rng = random.Random(seed)
    state = PartitionState(0, RULES)
    reasons = []
    records = []
    start = 0
    while start < len(log):
        stop = min(len(log), start + rng.choice([1, 2, 17, 100, 640]))
        rejected = state.apply_batch([Record(o, log[o]) for o in range(start, stop)], NOW).rejected
        reasons += [rejection.reason for _, rejection in rejected]
        assert [m.offset() for m, _ in rejected] == sorted(m.offset() for m, _ in rejected)
        start = stop
        records.append(state.checkpoint(NOW))
    records.append(state.checkpoint(NOW + RULES.sketch_every_ms, force=True))  # the idle flush
    return state, [r.encode() for r in records if r is not None], reasons


def figures(ledger: PartitionLedger) -> dict:
    return {"minutes": minutes(ledger), "dead": dead(ledger), "late": late(ledger), "end": ledger.end,
            "watermark": ledger.watermark,
            "days": {d: (v.totals.to_list(), {k: t.to_list() for k, t in v.countries.items()},
                         {k: t.to_list() for k, t in v.channels.items()}, v.top_merchants, v.merchants,
                         v.top_products, v.products, v.customers().estimate(), v.rerouted)
                     for d, v in ledger.days.items()}}


def test_batches_of_any_size_count_what_single_messages_count() -> None:
    for seed in range(4):
        log = mixed_log(seed)
        single, single_records, single_reasons = one_at_a_time(log)
        batched, batched_records, batched_reasons = in_batches(log, seed)
        assert batched_reasons == single_reasons
        assert batched.duplicates == single.duplicates > 0
        folded = fold(0, single_records)
        assert late(folded) > 0 and dead(folded)["too_late"] > 0
        assert figures(fold(0, batched_records)) == figures(folded)
        assert len(batched.dedupe) == len(single.dedupe)


def test_a_batch_counts_each_valid_order_once_in_its_minute() -> None:
    log = mixed_log(seed=9, size=2000)
    state = PartitionState(0, Rules(dedupe_horizon_ms=100 * HOUR))  # every id remembered
    rejected = state.apply_batch([Record(o, raw) for o, raw in enumerate(log)], NOW).rejected
    # The same figures, computed independently from the events themselves.
    closed = {o for o, rejection in ((m.offset(), r) for m, r in rejected) if rejection.reason == "too_late"}
    seen: set[str] = set()
    expected: Counter[int] = Counter()
    for offset, raw in enumerate(log):
        try:
            event = orjson.loads(raw or b"")
        except orjson.JSONDecodeError:
            continue
        if event.get("country") != "US" and event.get("country") not in ("DE", "JP"):
            continue
        if event.get("total_minor", 0) <= 0 or offset in closed or event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        if event["type"] == "order_placed":
            expected[event["occurred_at"] // MINUTE_MS * MINUTE_MS] += 1
    counted = {m: v[0] for m, v in minutes(state).items() if v[0]}
    assert counted == dict(expected)
    assert state.counted == len(seen)
