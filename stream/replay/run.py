"""Replay a past day from the log: its records through the live core, folded into the live view's shape.

The partitions are shared out among reading processes (counting is CPU-bound Python, and partitions are
independent); each reads its spans into a DayReplay and sends checkpoints here, where they are folded
into an `app.view.SalesView` exactly as the app folds the live aggregates topic, and optionally published
as a replay session. At a set speed every process paces its records by their timestamps against one
shared starting point, so partitions stay in step.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

from stream.config import Settings
from stream.core.checkpoint import Checkpoint
from stream.core.clock import FOREVER_MS, Clock
from stream.core.dayreplay import DayReplay, Span
from stream.core.eventtime import Day
from stream.core.salesview import SalesView
from stream.replay import reading

REPORT_EVERY_S = 0.25


class ReplayError(RuntimeError):
    """The replay could not finish; the message is one line for the user."""


@dataclass(frozen=True)
class Plan:
    """What to replay and how; sent to every reading process."""

    settings: Settings
    topic: str
    day: Day
    speed: float | None = None  # None: as fast as possible
    from_ms: int | None = None  # paced from this event time; earlier records run at full speed
    cut_minutes: bool = False  # a checkpoint per partition per minute of log time (a seekable session)
    cut_every_s: float | None = None  # and at least this often in wall time while paced (smooth viewers)
    partitions: int | None = None  # how many partitions merchants are homed on: orders elsewhere are skipped


@dataclass
class Tally:
    read: int = 0  # records read, every day
    day_records: int = 0  # records stamped in the day, valid or not
    dead_letters: Counter[str] = field(default_factory=Counter)
    late: int = 0
    ends: dict[int, int | None] = field(default_factory=dict)  # partition -> `end` of its last checkpoint
    closed: set[int] = field(default_factory=set)  # partitions where the day closed: it cannot change there

    def add(self, stats: dict[str, Any]) -> None:
        self.read += stats["read"]
        self.day_records += stats["day_records"]
        self.dead_letters.update(stats["dead_letters"])
        self.late += stats["late"]
        self.ends.update(stats["ends"])
        self.closed.update(stats["closed"])


@dataclass
class Progress:
    read: int = 0
    day_records: int = 0
    clock_ms: int = 0  # log time every open partition has reached


def shares(spans: list[Span], processes: int) -> list[list[Span]]:
    """Spans dealt out to at most `processes` readers: largest first, each to the least loaded."""
    dealt: list[list[Span]] = [[] for _ in range(max(1, min(processes, len(spans))))]
    loads = [0] * len(dealt)
    for span in sorted(spans, key=lambda s: (-s.size, s.partition)):
        least = loads.index(min(loads))
        dealt[least].append(span)
        loads[least] += span.size
    return [share for share in dealt if share]


def processes() -> int:
    return len(os.sched_getaffinity(0))


def run(plan: Plan, spans: list[Span], on_checkpoint: Callable[[int, bytes], None] | None = None,
        on_progress: Callable[[Progress, SalesView], None] | None = None) -> tuple[SalesView, Tally]:
    """Replay `spans`; returns the folded view and the tally of what was read."""
    rules = plan.settings.rules
    view = SalesView(rules)
    tally = Tally()
    dealt = shares(spans, processes())
    if not dealt:
        return view, tally
    context = multiprocessing.get_context("spawn")  # no fork: the parent may hold librdkafka threads
    out = context.Queue()
    go = context.Event()
    anchor = context.Value("d", 0.0)
    children = [context.Process(target=_read_share, args=(plan, share, i, out, go, anchor), daemon=True,
                                name=f"replay-{i}") for i, share in enumerate(dealt)]
    for child in children:
        child.start()
    waiting, reached = set(range(len(children))), set()
    progress: dict[int, Progress] = {}
    try:
        while waiting:
            dead = [i for i in waiting if children[i].exitcode is not None]
            try:
                kind, index, payload = out.get(timeout=0.5)
            except queue.Empty:
                if dead:
                    raise ReplayError(f"a reading process exited with {children[dead[0]].exitcode}") from None
                continue
            if kind == "checkpoints":
                for partition, raw in payload:
                    view.apply(raw)
                    if on_checkpoint is not None:
                        on_checkpoint(partition, raw)
            elif kind == "progress":
                progress[index] = payload
                if on_progress is not None:
                    on_progress(_sum(progress.values()), view)
            elif kind == "reached":
                reached.add(index)
            elif kind == "done":
                waiting.discard(index)
                reached.add(index)
                tally.add(payload)
            else:
                raise ReplayError(payload)
            if len(reached) == len(children) and not go.is_set():
                anchor.value = time.monotonic()  # every reader is at the starting point: the clock starts
                go.set()
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(5)
    return view, tally


def wall_ms() -> int:
    return int(time.time() * 1000)


def _sum(parts: Any) -> Progress:
    parts = list(parts)
    return Progress(sum(p.read for p in parts), sum(p.day_records for p in parts),
                    min(p.clock_ms for p in parts))


def report(view: SalesView, day: Day, tally: Tally, minutes: bool) -> dict[str, Any]:
    """The day in the /api/snapshot shape; dead letters and corrections are the day's own records'."""
    snapshot = view.snapshot(day.name)
    doc: dict[str, Any] = {"day": day.name, "totals": snapshot["totals"]}
    for key in ("countries", "channels", "top_merchants", "top_products"):
        doc[key] = snapshot[key]
    doc["dead_letters"] = dict(sorted(tally.dead_letters.items()))
    doc["late_events"] = tally.late
    doc["records"] = tally.day_records
    if minutes:
        doc["minutes"] = snapshot["minutes"]
    return doc


# -- in each reading process ------------------------------------------------------------------------


def _read_share(plan: Plan, spans: list[Span], index: int, out: Queue[Any], go: Event,
                anchor: Synchronized[float]) -> None:
    # Counting allocates millions of short-lived objects and no cycles; the default thresholds run full
    # collections over the day's growing state (~5% of the time measured): collect rarely.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        replay = DayReplay(plan.day, plan.settings.rules, spans, wall_ms=wall_ms, partitions=plan.partitions,
                           cut_minutes=plan.cut_minutes)
        share = _Share(plan, replay, index, out, go, anchor)
        if plan.speed is None:
            reading.read(plan.settings, plan.topic, spans, replay, share.after_batch)
        else:
            reading.read_paced(plan.settings, plan.topic, spans, replay, share.start_ms, share.start_clock,
                               share.before_wait, share.after_batch)
        share.send(replay.cut())
        out.put(("done", index, replay.stats()))
    except KeyboardInterrupt:
        pass  # the parent was interrupted too and tidies up
    except BaseException as exc:
        out.put(("failed", index, str(exc) or repr(exc)))


class _Share:
    def __init__(self, plan: Plan, replay: DayReplay, index: int, out: Queue[Any], go: Event,
                 anchor: Synchronized[float]) -> None:
        self.plan = plan
        self.replay = replay
        self.index = index
        self.out = out
        self.go = go
        self.anchor = anchor
        self.start_ms = plan.day.start_ms if plan.from_ms is None else plan.from_ms
        self.last_cut = time.monotonic()
        self.next_report = 0.0

    def start_clock(self) -> Clock:
        # Every partition here is at the starting point: wait until every reader is, then share one clock.
        self.out.put(("reached", self.index, None))
        self.go.wait()
        assert self.plan.speed is not None
        return Clock(self.start_ms, FOREVER_MS, self.plan.speed, self.anchor.value)

    def before_wait(self, seconds: float) -> None:
        every = self.plan.cut_every_s
        if every is not None and (seconds >= every or time.monotonic() - self.last_cut >= every):
            self._cut()  # viewers see everything up to now before the pause
        self._report()

    def after_batch(self) -> None:
        now = time.monotonic()
        every = self.plan.cut_every_s
        if every is not None and now - self.last_cut >= every:
            self._cut()
        elif self.replay.ready:
            self.send(self.replay.take())
        self._report()

    def _report(self) -> None:
        now = time.monotonic()
        if now >= self.next_report:
            self.next_report = now + REPORT_EVERY_S
            replay = self.replay
            progress = Progress(replay.read, replay.day_records, replay.low_clock())
            self.out.put(("progress", self.index, progress))

    def _cut(self) -> None:
        self.send(self.replay.cut())
        self.last_cut = time.monotonic()

    def send(self, checkpoints: list[Checkpoint]) -> None:
        if checkpoints:
            # In parts, as the worker writes them: no record of a replay topic outgrows the broker's limit.
            self.out.put(("checkpoints", self.index,
                          [(c.partition, part) for c in checkpoints for part in c.parts()]))
