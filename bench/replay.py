"""Replay stage: a backfilled day replayed at full speed by `python -m stream replay` (end to end: start-up,
offset lookup, counting, folding), beside a bare confluent-kafka consume of the same offset range, in the
same run. Peak memory is sampled over the replay's process tree."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

import orjson
import psutil
from confluent_kafka import Consumer, TopicPartition

from bench.report import Figure
from stream import config
from stream.core import eventtime
from stream.core.dayreplay import Span
from stream.kafka.admin import ensure_topics
from stream.replay import reading

ROOT = Path(__file__).resolve().parent.parent
DAY = "2025-11-28"
GOAL_ORDERS, GOAL_S = 10_000_000, 60.0
_SUMMARY = re.compile(r"records of the day \(([\d,]+) read\)")


def run(bootstrap: str, quick: bool) -> list[Figure]:
    orders = 200_000 if quick else GOAL_ORDERS
    env = _topics(bootstrap)
    print(f"backfilling {orders:,} orders of {DAY} ...", flush=True)
    started = time.perf_counter()
    command = [sys.executable, "-m", "loadgen", "backfill", "--day", DAY, "--orders", str(orders)]
    backfill = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    if backfill.returncode != 0:
        raise RuntimeError(f"backfill failed: {backfill.stderr[-2000:]}")
    print(f"backfilled in {time.perf_counter() - started:.0f}s", flush=True)
    spans = _spans(env)
    records = sum(s.size for s in spans)

    raw_s = _raw_consume(bootstrap, env["ORDERS_TOPIC"], spans)
    replay_s, read, peak = _replay(env)
    assert read == records, f"the replay read {read:,} records of {records:,}"
    print(f"replay {replay_s:.1f}s ({records / replay_s:,.0f} records/s, peak RSS {peak:.0f} MiB)   "
          f"raw consume {raw_s:.1f}s ({records / raw_s:,.0f}/s)   ratio {raw_s / replay_s:.0%}", flush=True)
    full = orders == GOAL_ORDERS
    return [
        Figure("replay", f"replay of a {orders:,}-order day ({records:,} records) at max speed, end to end",
               records / replay_s, "records/s", "bare confluent consume of the same offsets, one process",
               records / raw_s, f"{GOAL_ORDERS:,} orders in <= {GOAL_S:.0f} s",
               replay_s <= GOAL_S if full else None),
        Figure("replay", f"replay wall time, {orders:,} orders", replay_s, "s",
               goal=f"<= {GOAL_S:.0f} s for {GOAL_ORDERS:,} orders" + ("" if full else " (full run only)"),
               met=replay_s <= GOAL_S if full else None),
        Figure("memory", f"replay peak RSS, all processes, {orders:,} orders", peak, "MiB"),
    ]


def _topics(bootstrap: str) -> dict[str, str]:
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}"
    settings = replace(config.load().reaching(bootstrap), orders_partitions=8, orders_topic=topic,
                       aggregates_topic=f"{topic}.aggregates", dlq_topic=f"{topic}.dlq",
                       owners_topic=f"{topic}.owners", homes_topic=f"{topic}.homes")
    ensure_topics(settings)
    return {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "ORDERS_TOPIC": topic, "ORDERS_PARTITIONS": "8",
            "AGGREGATES_TOPIC": settings.aggregates_topic, "DLQ_TOPIC": settings.dlq_topic,
            "OWNERS_TOPIC": settings.owners_topic, "PYTHONUNBUFFERED": "1"}


def _spans(env: dict[str, str]) -> list[Span]:
    settings = config.load().reaching(env["KAFKA_BOOTSTRAP"])
    return reading.locate(settings, env["ORDERS_TOPIC"], eventtime.day(DAY, int(time.time() * 1000), 0))[1]


def _raw_consume(bootstrap: str, topic: str, spans: list[Span]) -> float:
    """Seconds for a bare consumer (same fetch settings as the replay's) to read every record of `spans`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-raw-{uuid.uuid4()}",
                         "enable.auto.commit": False, "fetch.max.bytes": 52_428_800,
                         "max.partition.fetch.bytes": 10_485_760, "queued.max.messages.kbytes": 65_536})
    stops = {s.partition: s.stop for s in spans}
    started = time.perf_counter()
    consumer.assign([TopicPartition(topic, s.partition, s.start) for s in spans])
    seen = 0
    while stops:
        for message in consumer.consume(10_000, 1.0):
            if message.error() is None:
                message.value()
                seen += 1
                p, offset = message.partition(), message.offset()
                if p is not None and offset is not None and offset + 1 >= stops.get(p, 0):
                    stops.pop(p, None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def _replay(env: dict[str, str]) -> tuple[float, int, float]:
    """(seconds, records read, peak RSS MiB of the replay and its reading processes)."""
    started = time.perf_counter()
    replaying = subprocess.Popen([sys.executable, "-m", "stream", "replay", "--day", DAY], cwd=ROOT, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process = psutil.Process(replaying.pid)
    peak = 0.0
    while replaying.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree) / 2**20)
        except psutil.Error:
            pass  # a process ended between the listing and the reading
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    out, err = replaying.communicate()
    if replaying.returncode != 0:
        raise RuntimeError(f"replay failed: {err.decode()[-2000:]}")
    assert orjson.loads(out)["totals"]["orders"] > 0
    found = _SUMMARY.search(err.decode())
    assert found is not None, err.decode()
    return elapsed, int(found.group(1).replace(",", "")), peak
