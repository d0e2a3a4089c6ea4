"""Produce: events/s from one load generator process next to a raw confluent-kafka produce loop sending
the very same bytes (same keys, timestamps and producer settings) in the same run."""

from __future__ import annotations

import gc
import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from confluent_kafka import Producer

from bench.report import Figure
from loadgen.backfill import run_backfill
from loadgen.catalog import Catalog
from loadgen.model import Model
from loadgen.producer import PRODUCER_SETTINGS, Outgoing
from loadgen.profiles import day_plan, profile
from loadgen.stop import Stop
from loadgen.traffic import Traffic
from stream import config
from stream.core.eventtime import parse_day
from stream.kafka.admin import ensure_topics

ROOT = Path(__file__).resolve().parent.parent
DAY = "2025-11-28"  # Black Friday 2025: a past day, so the backfill is the same bytes every time
GOAL_RATE = 200_000
_SUMMARY = re.compile(r"done: events (\d+) .*?acked (\d+) .* ([\d,]+) events/s +(\d+) bytes")


class _Collect:
    def __init__(self) -> None:
        self.messages: list[Outgoing] = []
        self.bytes = 0

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        for message in messages:
            self.messages.append(message)
            self.bytes += len(message[0])


def run(bootstrap: str, quick: bool) -> list[Figure]:
    orders, rounds = (300_000, 1) if quick else (2_000_000, 3)
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_PARTITIONS": "8", "PYTHONUNBUFFERED": "1"}
    messages, size = _same_messages(orders)
    _raw_loop(bootstrap, env, messages[:300_000])  # warm the broker's JIT up: it is not loadgen's cost
    loadgen_rates, raw_rates = [], []
    for _ in range(rounds):  # alternating, so a broker that slows down as its log grows hurts both alike
        rate, sent_bytes = _loadgen(env, orders)
        assert sent_bytes == size, f"loadgen sent {sent_bytes} bytes; the raw loop would send {size}"
        loadgen_rates.append(rate)
        raw_rates.append(_raw_loop(bootstrap, env, messages))
        print(f"loadgen {rate:,.0f} events/s   raw loop {raw_rates[-1]:,.0f} messages/s   "
              f"({orders:,} events of {size / orders:.0f} bytes)", flush=True)
    loadgen_rate, raw_rate = statistics.median(loadgen_rates), statistics.median(raw_rates)
    print(f"median: loadgen {loadgen_rate:,.0f} events/s, raw loop {raw_rate:,.0f}/s, "
          f"ratio {loadgen_rate / raw_rate:.0%}")
    return [Figure(
        stage="produce", name=f"loadgen backfill, {orders:,} events, one process (median of {rounds})",
        value=loadgen_rate,
        unit="events/s", limit_name="raw confluent-kafka produce loop, same bytes and settings",
        limit=raw_rate,
        goal=f">= {GOAL_RATE:,}/s and >= 50% of raw",
        met=loadgen_rate >= GOAL_RATE and loadgen_rate >= 0.5 * raw_rate,
    )]


def _topics(env: dict[str, str], name: str) -> dict[str, str]:
    """Fresh topics of 8 partitions, created before the clock starts; the environment naming them."""
    run = f"bench-{name}-{uuid.uuid4().hex[:8]}"
    settings = replace(config.load().reaching(env["KAFKA_BOOTSTRAP"]), orders_partitions=8, orders_topic=run,
                       aggregates_topic=f"{run}.aggregates", dlq_topic=f"{run}.dlq")
    ensure_topics(settings)
    return {**env, "ORDERS_TOPIC": run, "AGGREGATES_TOPIC": f"{run}.aggregates", "DLQ_TOPIC": f"{run}.dlq"}


def _loadgen(env: dict[str, str], orders: int) -> tuple[float, int]:
    command = [sys.executable, "-m", "loadgen", "backfill", "--day", DAY, "--orders", str(orders)]
    done = subprocess.run(command, cwd=ROOT, env=_topics(env, "loadgen"), capture_output=True, text=True,
                          timeout=600)
    found = _SUMMARY.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"loadgen failed ({done.returncode}): {done.stderr[-2000:]}")
    made, acked, rate, size = found.groups()
    assert int(made) == orders == int(acked), done.stderr
    return float(rate.replace(",", "")), int(size)


def _same_messages(orders: int) -> tuple[list[Outgoing], int]:
    """Regenerate, in this process, the bytes the backfill above sent: same seed, day and code path."""
    sink = _Collect()
    traffic = Traffic(Model(Catalog(1, 2000), 1, DAY), sink)
    shape = profile("bfcm", 1, 2000)
    run_backfill(traffic, shape, parse_day(DAY)[0], day_plan(shape, orders), Stop(), lambda made: None)
    return sink.messages, sink.bytes


def _raw_loop(bootstrap: str, env: dict[str, str], messages: list[Outgoing]) -> float:
    topic = _topics(env, "raw")["ORDERS_TOPIC"]
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_SETTINGS})
    producer.poll(1)  # connected before the clock starts, as loadgen is after its topic check
    gc.freeze()
    produce = producer.produce
    started = time.perf_counter()
    for i, (value, key, timestamp) in enumerate(messages):
        while True:
            try:
                produce(topic, value, key, timestamp=timestamp)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    left = producer.flush(120)
    elapsed = time.perf_counter() - started
    assert left == 0, f"{left} messages of the raw loop were not acknowledged"
    return len(messages) / elapsed
