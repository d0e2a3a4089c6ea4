"""An export that continues where it stopped: every record the export's replay reads goes to a journal
beside the output (FILE.progress, stream.jobs.journal) with, each half second, how far each partition
was read. Started again, the export feeds the journal's records to a fresh replay (the counting is
repeated from the file, the reading from Kafka is not), reads on from there, and at the end writes the
archive from the journal, partition by partition: the same bytes as an export never interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.core.dayreplay import DayReplay, Span
from stream.core.eventtime import Day
from stream.core.record import LogRecord, Record
from stream.jobs.journal import Journal, beside
from stream.replay import archive, reading
from stream.replay.run import wall_ms

SAVE_EVERY_S = 0.5


class JournaledReplay(DayReplay):
    """A DayReplay that keeps every record it is fed, and how far each partition got, in a journal."""

    def __init__(self, day: Day, settings: Settings, topic: str, spans: list[Span], partitions: int,
                 journal: Journal) -> None:
        super().__init__(day, settings.rules, spans, wall_ms=wall_ms,
                         partitions=reading.homes(settings, topic, partitions))
        self.journal = journal
        self.spans = spans
        self.partitions = partitions  # of the topic
        self.next: dict[int, int] = {}  # partition -> next offset to read
        self.finished: set[int] = set()  # partitions whose reader reached the end before their stop
        self._lines: list[bytes] = []
        self._saved = time.monotonic()

    def feed(self, record: LogRecord) -> bool:
        self._lines.append(archive.line(record))
        self.next[record.partition()] = record.offset() + 1
        return super().feed(record)

    def finish(self, partition: int) -> None:
        self.finished.add(partition)
        super().finish(partition)

    def save(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._saved >= SAVE_EVERY_S:
            self._saved = now
            self.journal.append(self._lines, {"spans": [[s.partition, s.start, s.stop] for s in self.spans],
                                              "next": sorted(self.next.items()),
                                              "finished": sorted(self.finished)})
            self._lines = []

    def restore(self) -> int:
        """Feed the journal's records again (not journaled twice); returns how many."""
        state = self.journal.state or {}
        count = 0
        for line in self.journal.lines():
            entry = archive.parse(line)
            DayReplay.feed(self, Record(entry.offset, entry.value, entry.timestamp, entry.partition))
            count += 1
        self.next = {p: n for p, n in state.get("next", [])}
        for partition in state.get("finished", []):
            self.finish(partition)
        return count

    def remaining(self) -> list[Span]:
        return [Span(s.partition, self.next.get(s.partition, s.start), s.stop) for s in self.spans
                if s.partition in self.stops]


def export(settings: Settings, topic: str, day: Day, path: Path, restart: bool,
           on_progress: Callable[[DayReplay], None], say: Callable[[str], None]
           ) -> tuple[JournaledReplay, int]:
    """Read the day into a journaled replay, resuming a journal of the same export; returns the replay
    (every record fed) and how many records came from the journal."""
    partitions, spans = reading.locate(settings, topic, day)
    identity: dict[str, Any] = {"job": "export", "day": day.name, "topic": topic, "partitions": partitions,
                                "starts": [[s.partition, s.start] for s in spans]}
    journal = Journal(beside(path), identity, restart)
    if journal.state is not None:  # the spans as the first run found them: the log may have grown since
        spans = [Span(p, start, stop) for p, start, stop in journal.state["spans"]]
    replay = JournaledReplay(day, settings, topic, spans, partitions, journal)
    restored = replay.restore() if journal.state is not None else 0
    if restored:
        say(f"resuming the export from {journal.path}: {restored:,} records already read")
    replay.save(force=True)

    def after_batch() -> None:
        replay.save()
        on_progress(replay)

    reading.read(settings, topic, replay.remaining(), replay, after_batch)
    replay.save(force=True)
    return replay, restored


def write_archive(replay: JournaledReplay, path: Path, topic: str, partitions: int) -> archive.ArchiveWriter:
    """The archive of the day's records in the journal, partition by partition, each in log order."""
    day = replay.day
    writer = archive.ArchiveWriter(path, day.name, topic, partitions)
    try:
        for partition in sorted(s.partition for s in replay.spans):
            head = b'{"p":%d,' % partition
            for line in replay.journal.lines():
                if line.startswith(head) and day.start_ms <= archive.parse(line).timestamp < day.end_ms:
                    writer.add_line(line)
    except BaseException:
        writer.discard()
        raise
    return writer
