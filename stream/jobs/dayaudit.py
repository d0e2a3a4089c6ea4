"""An audit (or report) that continues where it stopped: its progress in a journal beside its output
(FILE.progress, stream.jobs.journal).

The first state line fixes the audit's cut: where the snapshot and aggregates topics were read to (so a
resumed run folds the very same view, however the log has grown), the view's offsets (a refold that
does not give them back is of another log: started afresh), each `orders` partition's stop, and when
the audit started. After each batch the reader takes (up to 10,000 records) the records read since the
last state follow, in the day archive's line format, then a state with how far each partition was read.
Started again, the audit folds the view to the saved ends, takes the journal's records back and reads
each partition on from where it stopped: the same records, so the same recount and the same report,
but for the time fields (RUN_TIME_FIELDS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stream.audit.recount import Record
from stream.audit.source import DayRecords
from stream.config import Settings
from stream.core.eventtime import Day
from stream.jobs.journal import Journal
from stream.kafka.reader import Key
from stream.replay import archive

# What differs between an interrupted audit and one never interrupted: when it ran. A resumed run keeps
# the first run's started_ms; the JSON's ms and elapsed_ms and the report's generated_ms (shown in its
# <time id="generated">) are the time of the run that finished.
RUN_TIME_FIELDS = ("generated_ms", "started_ms", "ms", "elapsed_ms")


class AuditJournal:
    def __init__(self, path: Path, settings: Settings, topic: str, day: Day, restart: bool = False) -> None:
        """Resume the journal at `path` if it is of this audit (day, topics), unless `restart`."""
        self._identity = {"job": "audit", "day": day.name, "topic": topic,
                          "aggregates": settings.aggregates_topic, "snapshots": settings.snapshots_topic}
        self.journal = Journal(path, self._identity, restart)
        self.cut: dict[str, Any] = {}  # the state's fixed part: started_ms, ends, view offsets, stops
        self._saved = 0  # records of DayRecords.records in the journal

    @property
    def path(self) -> Path:
        return self.journal.path

    @property
    def resumed(self) -> dict[str, Any] | None:
        """The state of the run this one continues, None if it starts afresh."""
        return self.journal.state

    def ends(self) -> dict[Key, int] | None:
        """Where the resumed run read the snapshot and aggregates topics to (LoadedView.ends)."""
        state = self.journal.state
        return None if state is None else {(t, p): end for t, p, end in state["ends"]}

    def afresh(self) -> None:
        """Drop what the journal holds: it is of another log."""
        self.journal.close()
        self.journal = Journal(self.path, self._identity, restart=True)

    def begin(self, started_ms: int, ends: dict[Key, int], view_offsets: dict[str, int]) -> None:
        self.cut = {"started_ms": started_ms, "ends": sorted([t, p, end] for (t, p), end in ends.items()),
                    "view": view_offsets}

    def restore(self, records: DayRecords) -> int:
        """Give `records` back what the journal holds (before any is read); returns how many records."""
        state = self.journal.state
        if state is None or "next" not in state:
            return 0
        records.stops = {p: stop for p, stop in state["stops"]}
        records.next = {p: n for p, n in state["next"]}
        for line in self.journal.lines():
            entry = archive.parse(line)
            records.records.append(Record(entry.partition, entry.offset, entry.timestamp, entry.key,
                                          entry.value, tuple(entry.headers or ())))
        self._saved = len(records.records)
        # The interrupted round goes on in this run (Round counts it again), unless it had ended.
        records.rounds = max(0, state["rounds"] - 1) if records.open() else state["rounds"]
        return self._saved

    def save(self, records: DayRecords) -> None:
        """The records read since the last save and how far each partition got, each batch: a stopped
        run loses one batch at most, whatever the read's speed. Call between batches, when `records`
        agrees with itself."""
        new = records.records[self._saved:]
        lines = [archive.fields_line(r.partition, r.offset, r.timestamp_ms, r.key, r.value, r.headers)
                 for r in new]
        self.journal.append(lines, {**self.cut, "stops": sorted([p, s] for p, s in records.stops.items()),
                                    "next": sorted([p, n] for p, n in records.next.items()),
                                    "rounds": records.rounds})
        self._saved += len(new)

    def remove(self) -> None:
        """The audit's output is written: its progress is of no more use."""
        self.journal.remove()

    def close(self) -> None:
        self.journal.close()
