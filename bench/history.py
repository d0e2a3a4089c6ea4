"""History stage: what a long history costs — disk, a fresh app's start, a worker's restart — measured at two
history lengths 10x apart and projected to a five-day weekend; the app's RSS over the days it holds; the
worker's RSS with a full 15-minute dedupe horizon at 10,000 orders/s.

- Bytes: the broker's log folders (bench/disk.py) are weighed before and after each stretch of live load
  (`loadgen run`), once the worker has counted it: the aggregates topic alone, and the two snapshot topics
  (`.snapshots`, `.state`), each against the orders bytes written in the same interval. Segment files as
  the broker holds them (records lz4-compressed by the producers, transaction markers included).
- A fresh app: a new `python -m app` on the same topics, from process start to /healthz 200, and its RSS
  then beside the long-running app's at the same moment.
- A worker restart: kill -9 and a new `python -m stream`, from its group join (its first "owning
  partitions" line) to counting every partition (the "counting partitions" line that names them all).
- Days: 1 and then 10 small past days backfilled oldest first into a stack of their own, a fresh app's RSS
  after each.
- Dedupe: orders stamped within 15 minutes of event time preloaded (10,000/s for the default horizon in
  the full run), one worker catching up, its peak RSS.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench import disk, growth, process
from bench.follow import log_lines, now_ms
from bench.report import Figure, Note
from bench.stack import ROOT, Stack, high_watermarks
from bench.timeline import joined_ms, owned, ready_ms, recoveries
from broker import free_port
from stream.core.eventtime import DAY_MS, day_of

FRESH_APP_S, RESTART_S, RSS_WITHIN = 3.0, 5.0, 0.20
AGGREGATES_GOAL, LOW_RATE_GOAL = 0.25, 1.0
DEMO_RATE = 40
DEDUPE_RATE, HORIZON_MS = 10_000, 900_000  # the default DEDUPE_HORIZON_S


@dataclass
class Interval:
    seconds: float  # of load
    rate: float
    grown: dict[str, int]  # topic -> bytes written


@dataclass
class Fresh:
    seconds: float  # process start to /healthz 200
    cpu_s: float  # CPU time it used meanwhile: the work, whatever else the machine was doing
    rss: float
    running_rss: float  # the long-running app's, at the same moment


@dataclass
class Restart:
    join_s: float  # kill -9 to the new worker's group join (the killed one's session expiring)
    counting_s: float  # group join to counting every partition
    recovery_s: float  # the slowest partition's recovery, as its "recovered in" line says
    ranges: int  # the most checkpoint ranges a partition counted again (bounded by the snapshot cadence)


@dataclass
class Point:
    length: float  # seconds of history at the main rate
    interval: Interval  # the load that brought the history to this length
    fresh: list[Fresh]
    restarts: list[Restart]


def run(bootstrap: str, quick: bool) -> list[Figure | Note]:
    logs = disk.broker_logs()
    out: list[Figure | Note] = []
    out += _history(bootstrap, logs, quick)
    out += _days(bootstrap, quick)
    out += _dedupe(bootstrap, quick)
    return out


def _history(bootstrap: str, logs: Path, quick: bool) -> list[Figure | Note]:
    rate, lengths, low_s = (500, (2.0, 20.0), 10.0) if quick else (2_000, (30.0, 300.0), 60.0)
    # Repeated, so a difference between the lengths can be told from the noise of a shared machine.
    fresh_runs, restart_runs = (2, 2) if quick else (3, 2)
    stack = Stack(bootstrap, "history", worker_log="info")
    if quick:  # the broker's minimum: the new worker's join waits out the killed one's session
        stack.env["STREAM_SESSION_TIMEOUT_S"] = "6"
    s = stack.settings
    topics = [s.orders_topic, s.aggregates_topic, s.snapshots_topic, s.state_topic]
    # A worker publishes a partition's idle changes (its sketch) up to STREAM_SKETCH_EVERY_MS after the
    # last record: waited out (full run) so they land in the interval that caused them.
    settle = 0.0 if quick else s.rules.sketch_every_ms / 1000 + 1
    points: list[Point] = []
    with stack:
        built = 0.0
        for n, length in enumerate(lengths):
            print(f"{rate:,} orders/s until {length:.0f} s of history ...", flush=True)
            interval = _load(stack, logs, topics, rate, length - built, settle)
            built = length
            fresh = [_fresh_app(stack, f"app-fresh-{n}-{i}") for i in range(fresh_runs)]
            restarts = [_restart(stack, f"stream-{n}-{i}") for i in range(restart_runs)]
            points.append(Point(length, interval, fresh, restarts))
            print(f"  aggregates {_share(interval, s.aggregates_topic):.3f}x the orders bytes, snapshots "
                  f"{_share(interval, s.snapshots_topic, s.state_topic):.3f}x; fresh app healthy in "
                  f"{_list(f.seconds for f in fresh)} s ({_list(f.cpu_s for f in fresh)} s CPU) at "
                  f"{_list(f.rss for f in fresh)} MiB (running app {fresh[-1].running_rss:.0f} MiB); worker "
                  f"kill -9: joined {_list(r.join_s for r in restarts)} s later, counting all "
                  f"{_list(r.counting_s for r in restarts)} s after joining (slowest recovery "
                  f"{_list(r.recovery_s for r in restarts)} s, most ranges counted again "
                  f"{', '.join(str(r.ranges) for r in restarts)})", flush=True)
        print(f"{DEMO_RATE} orders/s (the demo's rate) for {low_s:.0f} s ...", flush=True)
        low = _load(stack, logs, topics, DEMO_RATE, low_s, settle)
        print(f"  aggregates {_share(low, s.aggregates_topic):.3f}x the orders bytes, snapshots "
              f"{_share(low, s.snapshots_topic, s.state_topic):.3f}x", flush=True)
    return [*_point_figures(points, stack, quick), *_bytes_figures(low, stack, LOW_RATE_GOAL, quick,
                                                                    f"{low_s:.0f} s"),
            *_weekend(points, stack, quick)]


def _load(stack: Stack, logs: Path, topics: list[str], rate: float, seconds: float,
          settle: float) -> Interval:
    before = disk.sizes(logs, topics)
    stack.run("-m", "loadgen", "run", "--rate", str(rate), "--duration", str(seconds), timeout=seconds + 300)
    stack.wait_drained(high_watermarks(stack.settings.bootstrap, stack.settings.orders_topic), 120)
    time.sleep(settle)
    return Interval(seconds, rate, growth.grown(before, disk.sizes(logs, topics)))


def _share(interval: Interval, *topics: str) -> float:
    orders = interval.grown[next(iter(interval.grown))]  # the orders topic comes first
    return growth.ratio(sum(interval.grown[t] for t in topics), orders)


def _list(values: Iterable[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _fresh_app(stack: Stack, log: str) -> Fresh:
    """A new app on the stack's topics, from process start to /healthz 200."""
    port = free_port()
    started = time.monotonic()
    app = subprocess.Popen([sys.executable, "-m", "app", "--host", "127.0.0.1", "--port", str(port),
                            "--log-level", "warning"], cwd=ROOT, env=stack.env, stdin=subprocess.DEVNULL,
                           stdout=stack.log_path(log).open("ab"), stderr=subprocess.STDOUT)
    try:
        while not _healthy(f"http://127.0.0.1:{port}/healthz"):
            if app.poll() is not None or time.monotonic() - started > 120:
                raise RuntimeError(f"the fresh app never became healthy (log: {stack.log_path(log)})")
            time.sleep(0.02)
        took = time.monotonic() - started
        measured = psutil.Process(app.pid)
        cpu = sum(measured.cpu_times()[:2])
        rss = measured.memory_info().rss / 2**20
        return Fresh(took, cpu, rss, psutil.Process(stack.pid("app")).memory_info().rss / 2**20)
    finally:
        app.terminate()
        app.wait(30)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _restart(stack: Stack, log: str) -> Restart:
    """kill -9 the worker and start another."""
    old = stack.processes["stream"]
    old.kill()
    old.wait()
    killed = now_ms()
    stack.start("stream", "-m", "stream", "--loglevel", "info", log=log)
    every = frozenset(range(stack.settings.orders_partitions))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        stack.check()
        lines = log_lines(stack.log_path(log))
        joined = joined_ms(lines, killed)
        ready = ready_ms(lines, killed) if joined is not None and owned(lines) == every else None
        if joined is not None and ready is not None:
            taken = recoveries(lines, joined)
            return Restart((joined - killed) / 1000, (ready - joined) / 1000,
                           max((r.seconds for r in taken), default=0.0),
                           max((r.ranges for r in taken), default=0))
        time.sleep(0.1)
    raise RuntimeError(f"the restarted worker did not count every partition within 120 s (log: {log})")


def _bytes_figures(interval: Interval, stack: Stack, goal: float, quick: bool, what: str) -> list[Figure]:
    s = stack.settings
    orders = interval.grown[s.orders_topic] / 2**20
    aggregates = interval.grown[s.aggregates_topic] / 2**20
    snapshots = (interval.grown[s.snapshots_topic] + interval.grown[s.state_topic]) / 2**20
    load = f"{interval.rate:,.0f} orders/s, {what}"
    limit = f"orders topic bytes, same interval ({interval.seconds:.0f} s of load)"
    words = f"≤ {goal:g}x the orders bytes"
    return [
        Figure("history", f"aggregates topic bytes on disk, {load}", aggregates, "MiB", limit, orders, words,
               None if quick else aggregates <= goal * orders),
        Figure("history", f"aggregates + .snapshots + .state bytes on disk, {load}", aggregates + snapshots,
               "MiB", limit, orders),
    ]


def _point_figures(points: list[Point], stack: Stack, quick: bool) -> list[Figure]:
    out: list[Figure] = []
    built = 0.0
    timeout = float(stack.env.get("STREAM_SESSION_TIMEOUT_S") or stack.settings.session_timeout_s)
    for point in points:
        what = f"history grown from {built:.0f} s to {point.length:.0f} s"
        built = point.length
        out += _bytes_figures(point.interval, stack, AGGREGATES_GOAL, quick, what)
        after = f"after {point.length:.0f} s of history at {point.interval.rate:,.0f}/s"
        fresh = [f.seconds for f in point.fresh]
        rss = statistics.median(f.rss for f in point.fresh)
        running = statistics.median(f.running_rss for f in point.fresh)
        restart = [r.counting_s for r in point.restarts]
        out += [
            Figure("history", f"fresh app: process start to /healthz 200, {after} (worst of {len(fresh)}: "
                   f"{_list(fresh)})", max(fresh), "s", goal=f"≤ {FRESH_APP_S:g} s",
                   met=max(fresh) <= FRESH_APP_S),
            Figure("history", f"fresh app: CPU time it used until /healthz 200, {after}",
                   statistics.median(f.cpu_s for f in point.fresh), "s"),
            Figure("history", f"fresh app RSS at /healthz 200, {after}", rss, "MiB",
                   "long-running app's RSS, same moment", running, f"within {RSS_WITHIN:.0%}",
                   abs(rss / running - 1) <= RSS_WITHIN),
            Figure("history", f"worker kill -9: new worker's group join to counting all partitions, {after} "
                   f"(worst of {len(restart)}: {_list(restart)})", max(restart), "s",
                   goal=f"≤ {RESTART_S:g} s", met=max(restart) <= RESTART_S),
            Figure("history", f"worker kill -9: the slowest partition's recovery (its 'recovered in' line), "
                   f"{after}", max(r.recovery_s for r in point.restarts), "s"),
            Figure("history", f"worker kill -9: most checkpoint ranges a partition counted again after its "
                   f"snapshot, {after}", max(r.ranges for r in point.restarts), "ranges",
                   "bounded by the snapshot cadence (STREAM_SNAPSHOT_RECORDS, STREAM_SNAPSHOT_EVERY_S)"),
            Figure("history", f"worker kill -9 to the new worker's group join (the old session expiring), "
                   f"{after}", max(r.join_s for r in point.restarts), "s", "STREAM_SESSION_TIMEOUT_S",
                   timeout),
        ]
    return out


def _weekend(points: list[Point], stack: Stack, quick: bool) -> list[Figure | Note]:
    """Five days at the longer stretch's bytes per second; the fresh app and a restart at any length."""
    s = stack.settings
    longest, first = points[-1], points[0]
    per_s = {t: b / longest.interval.seconds for t, b in longest.interval.grown.items()}
    days = growth.WEEKEND_S / 86_400
    orders = growth.held(per_s[s.orders_topic], growth.WEEKEND_S) / 2**30
    aggregates = growth.held(per_s[s.aggregates_topic], growth.WEEKEND_S) / 2**30
    kept = growth.held(per_s[s.aggregates_topic], growth.WEEKEND_S, s.aggregates_retention_ms / 1000) / 2**30
    snapshots = growth.held(per_s[s.snapshots_topic] + per_s[s.state_topic], growth.WEEKEND_S) / 2**30
    rate = f"{longest.interval.rate:,.0f}/s"
    limit = f"orders bytes, same {days:.0f} days"
    # The fresh app's wall time on a shared machine is mostly waiting for a core: its CPU time is the work,
    # so the work's trend over history length is projected and the worst wall time scaled by it.
    cpu = growth.trend(first.length, [f.cpu_s for f in first.fresh], longest.length,
                       [f.cpu_s for f in longest.fresh], growth.WEEKEND_S)
    fresh = max(f.seconds for f in longest.fresh) * cpu.projected / statistics.median(
        f.cpu_s for f in longest.fresh) if cpu.grows else max(f.seconds for f in longest.fresh)
    # A restart counts again the ranges since the partition's newest snapshot: at most one snapshot
    # interval's worth, whatever the history; the time is taken per range counted again.
    bound = growth.per_partition_bound(longest.interval.rate, s.orders_partitions, s.checkpoint_ms,
                                       s.checkpoint_records, s.snapshot_every_s, s.snapshot_records)
    ranges1, ranges2 = (statistics.median(r.ranges for r in at.restarts) for at in (first, longest))
    times1, times2 = (statistics.median(r.counting_s for r in at.restarts) for at in (first, longest))
    restart = max(growth.at_bound(ranges1, times1, ranges2, times2, bound),
                  max(r.counting_s for r in longest.restarts))
    return [
        Figure("weekend", f"aggregates written over {days:.0f} days at {rate} (projected)", aggregates, "GiB",
               limit, orders, f"≤ {AGGREGATES_GOAL:g}x the orders bytes",
               None if quick else aggregates <= AGGREGATES_GOAL * orders),
        Figure("weekend", f"aggregates held on disk after {days:.0f} days (retention "
               f"{s.aggregates_retention_ms / 86_400_000:g} days, projected)", kept, "GiB", limit, orders),
        Figure("weekend", f".snapshots + .state written over {days:.0f} days at {rate} (projected; "
               "compaction keeps only the newest record of each key, so less is held)", snapshots, "GiB",
               limit, orders),
        Figure("weekend", f"fresh app start after {days:.0f} days (its CPU time from {first.length:.0f} s to "
               f"{longest.length:.0f} s of history: {_words(cpu)}; the worst wall time scaled by it)", fresh,
               "s", goal=f"≤ {FRESH_APP_S:g} s", met=None if quick else fresh <= FRESH_APP_S),
        Figure("weekend", f"worker restart, join to counting, at any history length (a full snapshot "
               f"interval counted again: {bound:.0f} ranges a partition at {rate}; {ranges1:.0f} ranges took "
               f"{times1:.2f} s, {ranges2:.0f} took {times2:.2f} s; the worst sample if more)", restart, "s",
               goal=f"≤ {RESTART_S:g} s", met=None if quick else restart <= RESTART_S),
    ]


def _words(trend: growth.Trend) -> str:
    change = f"median {trend.per_s * 3600:+.2f} s per hour, samples spread {trend.noise:.2f} s"
    return f"{change}, grows: on that line {trend.projected:.2f} s" if trend.grows else \
        f"{change}, no growth beyond the noise"


def _days(bootstrap: str, quick: bool) -> list[Figure]:
    per_day, counts = (1_000, (1, 4)) if quick else (20_000, (1, 10))
    today = now_ms() - now_ms() % DAY_MS
    days = [day_of(today - (counts[-1] + 1 - i) * DAY_MS) for i in range(counts[-1])]  # oldest first
    held: list[tuple[int, Fresh]] = []
    done = 0
    with Stack(bootstrap, "days") as stack:
        for n in counts:
            print(f"backfilling {n - done} more past days ({per_day:,} orders each) ...", flush=True)
            for day in days[done:n]:
                stack.run("-m", "loadgen", "backfill", "--day", day, "--orders", str(per_day))
            done = n
            stack.wait_drained(high_watermarks(bootstrap, stack.settings.orders_topic), 300)
            fresh = _fresh_app(stack, f"app-days-{n}")
            held.append((n, fresh))
            print(f"  {n} days held: fresh app healthy in {fresh.seconds:.2f}s ({fresh.cpu_s:.2f} s CPU) at "
                  f"{fresh.rss:.0f} MiB", flush=True)
    (one, first), (many, last) = held
    one_rss, many_rss, one_s, many_s = first.rss, last.rss, first.seconds, last.seconds
    return [
        Figure("history", f"fresh app RSS holding {one} past day ({per_day:,} orders)", one_rss, "MiB"),
        Figure("history", f"fresh app RSS holding {many} past days ({per_day:,} orders each)", many_rss,
               "MiB", f"same, holding {one} day", one_rss, f"flat: within {RSS_WITHIN:.0%}",
               many_rss <= (1 + RSS_WITHIN) * one_rss),
        Figure("history", f"fresh app: process start to /healthz 200 holding {many} past days", many_s, "s",
               f"same, holding {one} day", one_s, f"≤ {FRESH_APP_S:g} s", many_s <= FRESH_APP_S),
    ]


def _dedupe(bootstrap: str, quick: bool) -> list[Figure]:
    orders = 100_000 if quick else DEDUPE_RATE * HORIZON_MS // 1000
    topic = f"bench-dedupe-{time.time_ns() % 10**8}"
    print(f"preloading {orders:,} orders stamped within {HORIZON_MS // 60_000} minutes ...", flush=True)
    process.preload(bootstrap, topic, orders, span_ms=HORIZON_MS, first_ms=now_ms() - HORIZON_MS)
    total, _, peak, _ = process.worker_catch_up(bootstrap, topic, orders)
    print(f"  worker caught up at {total:,.0f} orders/s, peak RSS {peak:.0f} MiB", flush=True)
    what = f"{orders:,} orders within the 15-minute dedupe horizon" + (
        f" ({orders * 1000 // HORIZON_MS:,}/s; quick: fewer orders than 10,000/s)" if quick else
        f" ({DEDUPE_RATE:,}/s for 15 minutes)")
    return [Figure("memory", f"worker peak RSS, {what}", peak, "MiB", goal="≤ 300 MiB",
                   met=None if quick else peak <= 300)]
