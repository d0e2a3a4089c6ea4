"""Process stage: a worker catching up on a preloaded `orders` topic, beside raw consume-and-parse loops.

All read the same topic in the same run. The limit is the worker's own read path with nothing after it:
a consumer with the worker's settings (stream.kafka.clients, small prefetch), `consume()` with the
worker's batch size and wait, each value decoded by the worker's decoder (`parse_order`). The loop it
replaced (consume(10000, 1 s), a large prefetch, orjson.loads into dicts) is reported beside it: the worker
beat that one, so it was no limit. The worker's time runs from its start to zero lag (every input offset
covered by a checkpoint); its RSS is sampled throughout. The full run uses 10M orders, the size the issue's
memory goal names; BENCH_PROCESS_ORDERS sets another size.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psutil
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.report import Figure, Note
from stream import config
from stream.core.checkpoint import Checkpoint
from stream.core.eventtime import DAY_MS
from stream.core.order import parse_order
from stream.kafka import clients

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 8
FULL_ORDERS = 10_000_000
QUICK_ORDERS = 200_000


def preload(bootstrap: str, topic: str, orders: int, span_ms: int = DAY_MS,
            first_ms: int | None = None) -> None:
    """Write `orders` events: a pool of model events re-stamped with fresh ids and times spread evenly over
    `span_ms` from `first_ms` (default: all of yesterday, so no event is in the future)."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.cimpl import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result()
    if first_ms is None:
        now = int(time.time() * 1000)
        first_ms = now - now % DAY_MS - DAY_MS
    pool = _pool(5000)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000,
                         "compression.type": "lz4", "partitioner": "murmur2_random",
                         "queue.buffering.max.messages": 1_000_000, "enable.idempotence": True})
    for i in range(orders):
        event = dict(pool[i % len(pool)])
        event["event_id"] = f"bench-{i}"
        event["occurred_at"] = at = first_ms + i * span_ms // orders
        while True:
            try:
                producer.produce(topic, orjson.dumps(event), str(event["merchant_id"]).encode(), timestamp=at)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def _pool(size: int) -> list[dict[str, Any]]:
    """Realistic events: 2,000 merchants with 50 products each, several currencies, ~2% refunds."""
    rng = random.Random(11)
    currencies = [("US", "USD", 100), ("DE", "EUR", 100), ("JP", "JPY", 1), ("GB", "GBP", 100)]
    pool = []
    for i in range(size):
        merchant = f"m{int(rng.paretovariate(1.2)) % 2000:05d}"
        country, currency, unit = rng.choice(currencies)
        lines: list[dict[str, Any]] = [
            {"sku": f"{merchant}-p{rng.randrange(50):03d}", "title": f"Product {rng.randrange(50)}",
             "qty": rng.choice((1, 1, 2)), "price_minor": rng.randrange(5, 200) * unit}
            for _ in range(rng.choice((1, 1, 2, 3)))]
        pool.append({
            "event_id": "", "type": "order_refunded" if rng.random() < 0.02 else "order_placed",
            "order_id": f"o{i}", "occurred_at": 0, "merchant_id": merchant,
            "merchant_name": f"Shop “{merchant}”",
            "country": country, "channel": rng.choice(("online", "mobile", "pos", "social")),
            "currency": currency, "total_minor": sum(x["qty"] * x["price_minor"] for x in lines),
            "customer_id": f"c{rng.randrange(300_000)}", "lines": lines,
        })
    return pool


def raw_like_worker(bootstrap: str, topic: str, orders: int) -> float:
    """Orders/s of the worker's read path alone: its consumer settings, its consume() batch and wait, its
    decoder, and its collector settings (stream/worker/counter.py); nothing counted."""
    settings = config.load().reaching(bootstrap)
    consumer = clients.consumer(settings, "bench-raw", prefetch="small")
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    most, within, ahead = settings.batch_max, settings.batch_within_ms / 1000, settings.rules.max_future_ms
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    seen = 0
    try:
        started = time.perf_counter()
        while seen < orders:
            batch = consumer.consume(most, within)
            now_ms = int(time.time() * 1000)  # once a batch, as the worker's clock
            for message in batch:
                if message.error() is None:
                    parse_order(message.value(), now_ms, ahead)
                    seen += 1
        elapsed = time.perf_counter() - started
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        consumer.close()
    return orders / elapsed


def raw_consume(bootstrap: str, topic: str, orders: int) -> float:
    """Orders/s of a bare confluent-kafka consumer that parses every value with orjson (the old limit)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.max.bytes": 52428800, "max.partition.fetch.bytes": 10485760})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = 0
    started = time.perf_counter()
    while seen < orders:
        for message in consumer.consume(10000, 1.0):
            value = message.value()
            if message.error() is None and value is not None:
                orjson.loads(value)
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return orders / elapsed


def _covered(consumer: Consumer, ends: dict[int, int]) -> int:
    for message in consumer.consume(10000, 0.2):
        value = message.value()
        if message.error() is None and value is not None:
            record = Checkpoint.decode(value)
            ends[record.partition] = record.end
    return sum(ends.values())


def worker_catch_up(bootstrap: str, topic: str, orders: int) -> tuple[float, float, float, float]:
    """(orders/s from start to zero lag, orders/s once running, peak RSS MiB, RSS growth MiB from a tenth
    of the orders to the end) of one `python -m stream`."""
    run = uuid.uuid4().hex[:6]
    aggregates = f"{topic}.aggregates"
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_TOPIC": topic, "AGGREGATES_TOPIC": aggregates,
           "DLQ_TOPIC": f"{topic}.dlq", "ORDERS_PARTITIONS": str(PARTITIONS),
           "STREAM_GROUP": f"bench-{run}", "FAUST_DATADIR": tempfile.mkdtemp(prefix="bench-faust-")}
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-reader-{run}",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False})
    started = time.perf_counter()
    worker = subprocess.Popen([sys.executable, "-m", "stream", "--loglevel", "warning"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    process = psutil.Process(worker.pid)
    peak = 0.0
    ends: dict[int, int] = {}
    first_progress = None
    rss_at_tenth = None
    try:
        while True:
            try:
                peak = max(peak, process.memory_info().rss / 2**20)
                reader.assign([TopicPartition(aggregates, p, 0) for p in range(PARTITIONS)])
                break
            except Exception:
                time.sleep(0.2)
        while True:
            covered = _covered(reader, ends)
            rss = process.memory_info().rss / 2**20
            peak = max(peak, rss)
            if covered and first_progress is None:
                first_progress = (time.perf_counter(), covered)
            if rss_at_tenth is None and covered >= orders // 10:
                rss_at_tenth = rss
            if covered >= orders:
                break
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited with {worker.returncode}")
        elapsed = time.perf_counter() - started
        assert first_progress is not None
        running = (orders - first_progress[1]) / max(time.perf_counter() - first_progress[0], 1e-9)
        assert rss_at_tenth is not None
        return orders / elapsed, running, peak, rss - rss_at_tenth
    finally:
        worker.terminate()
        worker.wait(30)
        reader.close()


LIMIT = "raw loop: the worker's consumer, consume(5000, 50 ms), parse_order"
OLD_LIMIT = "old raw loop: consume(10000, 1 s), large prefetch, orjson.loads"


def run(bootstrap: str, quick: bool) -> list[Figure | Note]:
    orders = int(os.environ.get("BENCH_PROCESS_ORDERS") or (QUICK_ORDERS if quick else FULL_ORDERS))
    topic = f"bench-orders-{uuid.uuid4().hex[:6]}"
    print(f"preloading {orders:,} orders ...", flush=True)
    preload(bootstrap, topic, orders)
    raw = raw_like_worker(bootstrap, topic, orders)
    old = raw_consume(bootstrap, topic, orders)
    print(f"raw loop like the worker's (parse_order): {raw:,.0f} orders/s; old raw loop (orjson): "
          f"{old:,.0f} orders/s", flush=True)
    total, running, peak, growth = worker_catch_up(bootstrap, topic, orders)
    print(f"worker: {total:,.0f} orders/s start to zero lag, {running:,.0f} once running, "
          f"peak RSS {peak:.0f} MiB, {growth:+.0f} MiB from a tenth of the orders to the end", flush=True)
    out: list[Figure | Note] = []
    if running > raw:  # a limit the worker beats is no limit: say so in the report
        print(f"WARNING: the worker ({running:,.0f}/s) beat the raw loop ({raw:,.0f}/s)", flush=True)
        out.append(Note("process: the worker beat its limit", f"once running {running:,.0f} orders/s against "
                        f"{raw:,.0f} orders/s for the raw loop in the same run"))
    return [
        *out,
        Figure("process", f"worker catch-up, {orders:,} orders, start to zero lag", total, "orders/s",
               LIMIT, raw, "≥ 100k orders/s and ≥ 60% of raw", total >= 100_000 and total >= 0.6 * raw),
        Figure("process", "worker catch-up once running (excl. start-up)", running, "orders/s", LIMIT, raw,
               "below the raw loop (a limit)", running < raw),
        Figure("process", f"worker catch-up, {orders:,} orders, start to zero lag", total, "orders/s",
               OLD_LIMIT, old),
        Figure("process", "worker catch-up once running (excl. start-up)", running, "orders/s", OLD_LIMIT,
               old),
        Figure("memory", f"worker peak RSS over {orders:,} orders", peak, "MiB", goal="≤ 300 MiB",
               met=peak <= 300),
        Figure("memory", "worker RSS change from a tenth of the orders to zero lag", growth, "MiB"),
    ]
