"""Freshness: from an order's creation to the moment a websocket viewer receives an update that includes it.

The real worker and app run against the bench broker (bench/stack.py). Load is held at fixed rates by
`python -m loadgen run` (1k, 5k, 20k orders/s) and then the BFCM midnight spike (bench/spike.py); between
steps the app is let catch up, so no step inherits another's backlog. A viewer process (bench/watch.py)
logs each message's receive time and the per-partition input offsets its figures include. Afterwards the
orders topic is read back: each record's Kafka timestamp is its `occurred_at`, stamped by the generator as
it made the order, and it is included by the first update whose offset for its partition is past it.

Before the live load, a whole past day is backfilled and the page's first paint with that day is timed.
If the 20k/s step misses the goal (full mode), the step is run again under py-spy and the top of the
worker's and the app's profiles goes into the report.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import psutil
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from bench import paint, profile, watch
from bench.report import Figure, Note
from bench.stack import PARTITIONS, Stack, covers, high_watermarks
from bench.stats import Summary, Update, inclusion_latencies

RATES = [1_000, 5_000, 20_000]
GOAL_RATE, GOAL_P50_MS, GOAL_P99_MS = 20_000, 250.0, 1000.0
DAY = "2025-11-28"  # Black Friday 2025, backfilled whole for the first paint


@dataclass
class Step:
    label: str
    target: float  # orders/s asked for (the spike: its top)
    start: dict[int, int]
    end: dict[int, int]
    seconds: float
    cpu: dict[str, float]  # % of a core over the step, per process


def run(bootstrap: str, quick: bool) -> list[Figure | Note]:
    hold_s = 4.0 if quick else 60.0
    day_orders = 50_000 if quick else 1_000_000
    out: list[Figure | Note] = []
    with Stack(bootstrap, "freshness") as stack:
        out += _first_paint(stack, day_orders)
        log = Path(tempfile.mkdtemp(prefix="bench-watch-")) / "updates.log"
        viewer = watch.start(stack.url, str(log))
        try:
            steps = [_step(stack, str(log), f"{rate:,}/s steady", rate, [
                "-m", "loadgen", "run", "--rate", str(rate), "--duration", str(hold_s)]) for rate in RATES]
            before, after, speed = (1, 6, 5) if quick else (30, 90, 1)
            steps.append(_step(stack, str(log), "BFCM midnight spike", GOAL_RATE, [
                "-m", "bench.spike", "--peak", str(GOAL_RATE), "--before", str(before * speed),
                "--after", str(after * speed), "--speed", str(speed)]))
        finally:
            viewer.terminate()
            viewer.wait(10)
        received, sent = watch.read(str(log))
        created = _read_back(bootstrap, stack.settings.orders_topic, steps)
        taken, produced = _checkpoints(bootstrap, stack.settings.aggregates_topic)
        results: dict[str, Summary] = {}
        legs: list[list[str]] = []
        for step in steps:
            latencies, missing = inclusion_latencies(created[step.label], received)
            results[step.label] = Summary.of(latencies)
            out += _figures(step, results[step.label], missing, created[step.label], quick, results)
            # Where the time goes: read by the worker, counted, pushed (message encoded), received.
            legs.append([step.label, *(_p50_p99(created[step.label], updates)
                                       for updates in (taken, produced, sent, received))])
        out.append(Note("freshness by leg (p50 / p99 ms from the order's creation)", "\n".join([
            "| load | worker began counting its batch | worker produced the checkpoint "
            "| app encoded a message | the viewer received it |", "|---|---|---|---|---|",
            *("| " + " | ".join(row) + " |" for row in legs)])))
        at_goal = results[f"{GOAL_RATE:,}/s steady"]
        missed = not (at_goal.p50 <= GOAL_P50_MS and at_goal.p99 <= GOAL_P99_MS)
        if os.environ.get("BENCH_PROFILE") or (missed and not quick):  # BENCH_PROFILE=1: profile anyway
            out += _profiled(stack, hold_s)
    return out


def _p50_p99(created: Created, updates: list[Update]) -> str:
    s = Summary.of(inclusion_latencies(created, updates)[0])
    return f"{s.p50:,.0f} / {s.p99:,.0f}"


def _checkpoints(bootstrap: str, topic: str) -> tuple[list[Update], list[Update]]:
    """Every checkpoint as (ms, {input partition: end}), in each partition's log order, timed twice: when
    the worker began counting its batch (`written_ms`) and when it produced the checkpoint (the record's
    timestamp), the batch counted."""
    # The partition's end event says it was read: checkpoints are written in transactions, so the last
    # offset below the high watermark is a commit marker, never handed out as a record.
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-{time.time_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True,
                         "isolation.level": "read_committed"})
    ends = high_watermarks(bootstrap, topic)
    consumer.assign([TopicPartition(topic, p, 0) for p, end in ends.items() if end > 0])
    left = {p for p, end in ends.items() if end > 0}
    taken: list[Update] = []
    produced: list[Update] = []
    while left:
        for message in consumer.consume(1000, 1.0):
            value, partition, offset = message.value(), message.partition(), message.offset()
            if _at_end(message):
                left.discard(partition or 0)
            if message.error() is not None or value is None or partition is None or offset is None:
                continue
            record = orjson.loads(value)
            covered = {record["p"]: record["end"]}
            taken.append((float(record["written_ms"]), covered))
            produced.append((float(message.timestamp()[1]), covered))
            if offset + 1 >= ends[partition]:
                left.discard(partition)
    consumer.close()
    return taken, produced


def _at_end(message: Message) -> bool:
    error = message.error()
    return error is not None and error.code() == KafkaError._PARTITION_EOF


def _first_paint(stack: Stack, orders: int) -> list[Figure | Note]:
    print(f"backfilling {orders:,} orders of {DAY} for the page ...", flush=True)
    stack.run("-m", "loadgen", "backfill", "--day", DAY, "--orders", str(orders))
    stack.wait_drained(high_watermarks(stack.settings.bootstrap, stack.settings.orders_topic), 300)
    day = stack.snapshot(DAY)
    drawn = paint.measure(f"{stack.url}/?day={DAY}", day["totals"]["orders"])
    print(f"first paint: first contentful {drawn.first_contentful_ms:.0f} ms, the whole day drawn "
          f"({drawn.minute_bars:,} minute bars) {drawn.day_drawn_ms:.0f} ms", flush=True)
    what = f"a full day loaded ({orders:,} orders, {len(day['minutes']):,} minutes)"
    return [Figure("first paint", f"first contentful paint, {what}", drawn.first_contentful_ms, "ms"),
            Figure("first paint", f"until the day's total and minute chart are drawn, {what}",
                   drawn.day_drawn_ms, "ms")]


def _step(stack: Stack, log: str | None, label: str, target: float, command: list[str]) -> Step:
    print(f"{label} ...", flush=True)
    bootstrap, topic = stack.settings.bootstrap, stack.settings.orders_topic
    start = high_watermarks(bootstrap, topic)
    processes = {name: psutil.Process(stack.pid(name)) for name in ("stream", "app")}
    cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
    began = time.perf_counter()
    stack.run(*command)
    seconds = time.perf_counter() - began
    end = high_watermarks(bootstrap, topic)
    # Caught up: the viewer has the last order (without a viewer: the app's view has it).
    drain = _wait_seen(stack, log, end, 120) if log else stack.wait_drained(end, 120)
    cpu = {name: (sum(p.cpu_times()[:2]) - cpu_before[name]) / (seconds + drain) * 100
           for name, p in processes.items()}
    print(f"  {sum(end.values()) - sum(start.values()):,} orders in {seconds:.1f}s, caught up {drain:.1f}s "
          f"later; CPU worker {cpu['stream']:.0f}%, app {cpu['app']:.0f}%", flush=True)
    return Step(label, target, start, end, seconds, cpu)


Created = dict[int, list[tuple[int, float]]]  # partition -> [(offset, creation ms)], ascending


def _wait_seen(stack: Stack, log: str, ends: dict[int, int], timeout: float) -> float:
    """Seconds until the viewer has received an update that includes every record below `ends`."""
    started = time.monotonic()
    while not covers(watch.last(log), ends):
        stack.check()
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"the viewer did not see {ends} within {timeout:.0f}s")
        time.sleep(0.05)
    return time.monotonic() - started


def _read_back(bootstrap: str, topic: str, steps: list[Step]) -> dict[str, Created]:
    """Each step's records by partition: a record's Kafka timestamp is its occurred_at."""
    created: dict[str, Created] = {s.label: {p: [] for p in range(PARTITIONS)} for s in steps}
    # Reroutes are written in the worker's transactions: a commit marker may end a partition (see above).
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-read-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.max.bytes": 52_428_800,
                         "enable.partition.eof": True, "isolation.level": "read_committed"})
    stops = {p: steps[-1].end[p] for p in range(PARTITIONS) if steps[-1].end[p] > steps[0].start[p]}
    consumer.assign([TopicPartition(topic, p, steps[0].start[p]) for p in stops])
    while stops:
        for message in consumer.consume(10_000, 1.0):
            p, offset = message.partition(), message.offset()
            if _at_end(message) and offset is not None and offset >= stops.get(p or 0, 0):
                stops.pop(p or 0, None)
            if message.error() is not None or p is None or offset is None:
                continue
            for step in steps:
                if step.start[p] <= offset < step.end[p]:
                    created[step.label][p].append((offset, float(message.timestamp()[1])))
                    break
            if offset + 1 >= stops.get(p, 0):
                stops.pop(p, None)
    consumer.close()
    return created


def _figures(step: Step, s: Summary, missing: int, created: Created, quick: bool,
             results: dict[str, Summary]) -> list[Figure | Note]:
    per_second = Counter(int(ms // 1000) for orders in created.values() for _, ms in orders)
    times = [ms for orders in created.values() for _, ms in orders]
    achieved = len(times) / max((max(times) - min(times)) / 1000, 1e-3) if times else 0.0
    peak = max(per_second.values(), default=0)
    print(f"  {step.label}: {s.count:,} orders ({achieved:,.0f}/s, busiest second {peak:,}), order -> "
          f"viewer p50 {s.p50:.0f} ms, p95 {s.p95:.0f}, p99 {s.p99:.0f}, max {s.max:.0f}"
          + (f"; {missing} never seen" if missing else ""), flush=True)
    floor = results.get(f"{RATES[0]:,}/s steady")
    if step.label == f"{RATES[0]:,}/s steady":
        floor = None  # the floor itself
    limit_name = f"same percentile at {RATES[0]:,}/s (the pipeline's timers)" if floor else ""
    goal = step.label == f"{GOAL_RATE:,}/s steady"
    judged = goal and not quick
    name = f"order -> viewer, {step.label} ({achieved:,.0f}/s achieved, busiest second {peak:,})"
    return [
        Figure("freshness", f"{name}, p50", s.p50, "ms", limit_name, floor.p50 if floor else None,
               f"≤ {GOAL_P50_MS:.0f} ms at {GOAL_RATE:,}/s sustained" if goal else "",
               s.p50 <= GOAL_P50_MS if judged else None),
        Figure("freshness", f"{name}, p95", s.p95, "ms", limit_name, floor.p95 if floor else None),
        Figure("freshness", f"{name}, p99", s.p99, "ms", limit_name, floor.p99 if floor else None,
               f"≤ {GOAL_P99_MS:.0f} ms at {GOAL_RATE:,}/s sustained" if goal else "",
               s.p99 <= GOAL_P99_MS and not missing if judged else None),
        Figure("freshness", f"{name}, max", s.max, "ms", limit_name, floor.max if floor else None),
        Figure("freshness", f"worker CPU, {step.label}", step.cpu["stream"], "% of a core"),
        Figure("freshness", f"app CPU, {step.label}", step.cpu["app"], "% of a core"),
    ]


def _profiled(stack: Stack, hold_s: float) -> list[Note]:
    """The 20k/s step again, with py-spy sampling the worker and the app (the numbers above are unsampled)."""
    print(f"{GOAL_RATE:,}/s again under py-spy ...", flush=True)
    with profile.Recording({"worker": stack.pid("stream"), "app": stack.pid("app")}, hold_s) as recording:
        _step(stack, None, f"{GOAL_RATE:,}/s profiled", GOAL_RATE,
              ["-m", "loadgen", "run", "--rate", str(GOAL_RATE), "--duration", str(hold_s)])
    return recording.notes(f"at {GOAL_RATE:,} orders/s")
