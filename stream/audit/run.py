"""One audit of one UTC day: what the dashboard shows against an independent recount of the raw records.

1. The dashboard's view, built the way every app builds it (stream.store.load_view), as of the end of
   the aggregates log: its per-partition offsets are the cut.
2. The day's raw `orders` records up to that cut (stream.audit.source), recounted in SQL
   (stream.audit.recount); for a closed day reading ends where the recount finds the day closed.
3. The two compared to the cent (stream.audit.verdict).

Because both sides stand at the same offsets, a day still open — today — is compared whole, every
minute up to the newest, final or not: a minute still open to late orders holds the same records on both
sides. The verdict then says the day is still open, and `final_before_ms` tells how far it is final.

Given a journal (stream.jobs.dayaudit), an audit stopped at any moment continues: the view folded to the
same ends, the records already read taken back, each partition read on from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stream.audit import source
from stream.audit.recount import DayRecount, recount
from stream.audit.verdict import Verdict, compare
from stream.config import Settings
from stream.core.eventtime import Day
from stream.core.rules import Rules
from stream.jobs.dayaudit import AuditJournal
from stream.kafka.timeindex import NoOrders
from stream.store import LoadedView, load_view


@dataclass
class Progress:
    stage: str  # "view" while the aggregates are folded, "records" while the day is read
    count: int


@dataclass
class Audit:
    day: Day
    topic: str
    shown: dict[str, Any]  # the view's day, /api/snapshot shape
    loaded: LoadedView
    recount: DayRecount
    verdict: Verdict
    rounds: int
    started_ms: int
    finished_ms: int

    @property
    def offsets(self) -> dict[str, list[int]]:
        """The raw records recounted: partition -> [first, last] offset."""
        return {str(p): [a, b] for p, (a, b) in sorted(self.recount.offsets.items())}

    def to_json(self) -> dict[str, Any]:
        """The JSON report: the verdict (with the recount), then what the audit covered and when."""
        view = self.loaded
        return {**self.verdict.to_json(), "topic": self.topic, "offsets": self.offsets,
                "cut": self.shown.get("offsets", {}), "final_before_ms": self.shown.get("final_before_ms"),
                "ms": self.finished_ms, "started_ms": self.started_ms,
                "elapsed_ms": self.finished_ms - self.started_ms, "rounds": self.rounds,
                "view": {"as_of_ms": view.view.as_of_ms, "snapshots": view.snapshots,
                         "checkpoints": view.checkpoints, "unreadable": view.unreadable,
                         "gaps": {str(p): n for p, n in sorted(view.gaps.items())}}}


def audit(settings: Settings, topic: str, day: Day,
          on_progress: Callable[[Progress], None] = lambda progress: None,
          journal: AuditJournal | None = None, say: Callable[[str], None] = lambda line: None) -> Audit:
    """Audit `day` of `topic` against the view of settings.aggregates_topic; NoOrders (a DayLogError) if
    the workers counted or tallied nothing into the day (its day index is empty). `journal`: keep the
    progress there, and continue the audit it holds (stream.jobs.dayaudit)."""
    resumed = journal.resumed if journal is not None else None
    started = resumed["started_ms"] if resumed is not None else _now()
    loaded = _fold(settings, journal, on_progress)
    shown = loaded.view.snapshot(day.name)
    cut = {int(p): end for p, end in shown.get("offsets", {}).items()}
    if journal is not None and resumed is not None and shown.get("offsets", {}) != resumed["view"]:
        say(f"the audit in {journal.path} is of another log (its view's offsets are gone): starting afresh")
        journal.afresh()
        return audit(settings, topic, day, on_progress, journal, say)
    index = loaded.view.index(day.name)
    if not index:
        if journal is not None:
            journal.remove()
        raise NoOrders(day.name, topic)  # the workers counted nothing into the day: nothing is shown
    records = source.locate(settings, topic, day, index, cut, loaded.skip, loaded.marks)
    if journal is not None:
        journal.begin(started, loaded.ends, shown.get("offsets", {}))
        restored = journal.restore(records)
        if restored:
            say(f"resuming the audit from {journal.path}: {restored:,} records already read")
        journal.save(records)

    def batch_read(n: int) -> None:
        if journal is not None:
            journal.save(records)
        on_progress(Progress("records", n))

    def read(partitions: set[int]) -> None:
        source.read(settings, records, partitions, on_progress=batch_read)

    counted = settle(settings.rules, records, day, read)
    verdict = compare(shown, counted, day_closed=counted.day_closed)
    return Audit(day, topic, shown, loaded, counted, verdict, records.rounds, started, _now())


def _fold(settings: Settings, journal: AuditJournal | None, on_progress: Callable[[Progress], None]
          ) -> LoadedView:
    """The view as of the end of the aggregates log, or as of the ends a resumed audit read it to."""
    ends = journal.ends() if journal is not None else None
    return load_view(settings, lambda n: on_progress(Progress("view", n)), ends=ends)


Read = Callable[[set[int]], None]  # read these partitions to their stops


def settle(rules: Rules, records: source.DayRecords, day: Day, read: Read) -> DayRecount:
    """Read every partition to its stop (the day index's range: every record counted or tallied into the
    day, and the day's close), then recount."""
    read(records.open())
    return recount_day(rules, records, day)


def recount_day(rules: Rules, records: source.DayRecords, day: Day) -> DayRecount:
    return recount(records.records, day.name, records.partitions, grace_ms=rules.grace_ms,
                   allowed_lateness_ms=rules.allowed_lateness_ms, dedupe_horizon_ms=rules.dedupe_horizon_ms,
                   max_future_ms=rules.max_future_ms, homes=records.homes, marks=records.marks_read())


def _now() -> int:
    return int(time.time() * 1000)
