"""What the merchants' own aggregates cost the counting loop: the same orders counted by the core
(stream.core.partition, checkpoints and their parts included, as the worker publishes them) with each
merchant's detail (minutes, seconds, channels, countries) and without it, interleaved, in this process.

No broker: the core alone, so the difference is the details' and nothing else's. Orders are the process
stage's realistic mix (2,000 merchants, Pareto), stamped 20,000 a second of event time, a checkpoint every
2,000 orders (a tenth of a second of them), so every order lands in the seconds horizon as it does live.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import orjson

from bench.process import _pool
from bench.report import Figure
from stream.core.merchantday import MerchantDay
from stream.core.partition import PartitionState
from stream.core.record import Record
from stream.core.rules import Rules

FULL_ORDERS = 1_000_000
QUICK_ORDERS = 100_000
RATE = 20_000  # orders per second of event time
CHECKPOINT_EVERY = 2_000
ROUNDS = 3
ALLOWED_LOSS = 0.10  # issue 23: the merchants' aggregates may cost at most 10% of the catch-up


def records(orders: int) -> list[Record]:
    pool = _pool(5_000)
    first = (int(time.time() * 1000) - 86_400_000) // 86_400_000 * 86_400_000 + 3_600_000  # yesterday 01:00
    out = []
    for i in range(orders):
        at = first + i * 1000 // RATE
        event = {**pool[i % len(pool)], "event_id": f"e{i}", "order_id": f"o{i}", "occurred_at": at}
        out.append(Record(i, orjson.dumps(event), at))
    return out


@contextmanager
def without_details() -> Iterator[None]:
    """The core as if merchants had no detail of their own: nothing is added to one, so none is sent."""
    add = MerchantDay.add
    MerchantDay.add = lambda self, order, refund, second=-1: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        MerchantDay.add = add  # type: ignore[method-assign]


def count(batch: list[Record], now_ms: int) -> float:
    """Orders a second through the core: apply, and a checkpoint with its parts every CHECKPOINT_EVERY."""
    state = PartitionState(0, Rules())
    started = time.perf_counter()
    for start in range(0, len(batch), CHECKPOINT_EVERY):
        state.apply_batch(batch[start:start + CHECKPOINT_EVERY], now_ms)
        record = state.checkpoint(now_ms)
        if record is not None:
            record.parts()
    return len(batch) / (time.perf_counter() - started)


def run(bootstrap: str, quick: bool) -> list[Figure]:
    orders = QUICK_ORDERS if quick else FULL_ORDERS
    batch = records(orders)
    now_ms = int(time.time() * 1000)
    with_rates, without_rates = [], []
    for _ in range(ROUNDS):  # interleaved: drift of the machine falls on both alike
        with_rates.append(count(batch, now_ms))
        with without_details():
            without_rates.append(count(batch, now_ms))
    with_, without = statistics.median(with_rates), statistics.median(without_rates)
    loss = 1 - with_ / without
    print(f"core counting, {orders:,} orders: {with_:,.0f}/s with the merchants' details, {without:,.0f}/s "
          f"without ({loss:.1%} slower; rounds with {[round(r) for r in with_rates]}, without "
          f"{[round(r) for r in without_rates]})", flush=True)
    return [Figure("merchants", f"core counting with each merchant's detail, {orders:,} orders", with_,
                   "orders/s", "the same core without merchant details", without,
                   f"≤ {ALLOWED_LOSS:.0%} slower", loss <= ALLOWED_LOSS)]
