"""Audit recount speed: a load-generator day (duplicates, late and malformed events included) laid out as
Kafka would partition it, recounted in DuckDB; prints records/s. No broker.

    .venv/bin/python -m bench.audit --orders 1000000
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable

from loadgen.catalog import Catalog
from loadgen.faults import Faults
from loadgen.model import Model
from loadgen.producer import Outgoing
from loadgen.traffic import Traffic
from stream.audit.murmur2 import partition_for
from stream.audit.recount import Record, recount
from stream.core.eventtime import DAY_MS, parse_day


class _Log:
    """Messages laid out per partition by their key, as the producer's murmur2 partitioner does."""

    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.records: list[Record] = []
        self._next = [0] * partitions
        self._home: dict[bytes, int] = {}

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        for value, key, stamp in messages:
            assert key is not None  # the model keys every message by its merchant
            p = self._home.get(key)
            if p is None:
                p = self._home[key] = partition_for(key, self.partitions)
            self.records.append(Record(p, self._next[p], stamp, key, value))
            self._next[p] += 1


def day_records(day: str, orders: int, partitions: int = 8, seed: int = 7,
                faults: bool = True) -> list[Record]:
    """`orders` events spread evenly over `day`, with the load generator's faults, in log order."""
    start, _ = parse_day(day)
    log = _Log(partitions)
    chosen = Faults(seed, dup_rate=0.01, late_rate=0.01, late_max_s=120, bad_rate=0.002) if faults else None
    traffic = Traffic(Model(Catalog(seed, 2000), seed, day), log, chosen, earliest_ms=start)
    step = DAY_MS / orders
    for first in range(0, orders, 5000):
        traffic.emit([start + int(i * step) for i in range(first, min(orders, first + 5000))])
    traffic.finish()
    return log.records


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--day", default="2025-11-28")
    args = parser.parse_args()
    records = day_records(args.day, args.orders)
    recount([], args.day, 8)  # DuckDB opened, outside the timing
    began, cpu = time.perf_counter(), time.process_time()
    result = recount(records, args.day, 8)
    took, used = time.perf_counter() - began, time.process_time() - cpu
    # CPU seconds (all of DuckDB's threads) say what the wall clock hides on a busy machine
    print(f"{len(records):,} records recounted in {took:.2f} s: {len(records) / took:,.0f} records/s; "
          f"{used:.2f} CPU-s, {used / len(records) * 1e6:.1f} CPU-µs a record, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs ({result.totals['orders']:,} orders, "
          f"{len(result.minutes):,} minutes, {result.passes} pass(es), "
          f"{sum(result.dead_letters.values()):,} dead letters)")


if __name__ == "__main__":
    main()
