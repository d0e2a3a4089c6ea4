"""The audit's journal without a broker: a read of the day's records stopped at any moment (the journal cut
at any byte) and resumed gives back the cut, the records read and how far each partition got, and reads
on to exactly the records, recount and verdict of a read never stopped."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream import config
from stream.audit.run import recount_day
from stream.audit.source import DayRecords, Round, plan
from stream.audit.verdict import compare
from stream.jobs.dayaudit import AuditJournal
from tests.stream.audit.test_audit_run import DAY, Log, N, a_day, checkpoints, spans, view_of

SETTINGS = replace(config.load(), aggregates_topic="agg", snapshots_topic="agg.snapshots")
LOG = a_day(orders=300, close=False)
LOADED = view_of([[raw for rows in checkpoints(LOG, batch=50).values() for raw in rows]])
SHOWN = LOADED.view.snapshot(DAY.name)
ENDS = {**{("agg.snapshots", p): 0 for p in range(N)}, **{("agg", p): 10 + p for p in range(N)}}
STARTED = 1_764_300_000_000


def fresh() -> DayRecords:
    """The day's records as `source.locate` plans them, nothing read yet."""
    cut = {int(p): end for p, end in SHOWN["offsets"].items()}
    return plan("orders", N, spans(LOG, LOADED), cut, LOADED.skip, marks=LOADED.marks)


def opened(path: Path, topic: str = "orders", restart: bool = False) -> AuditJournal:
    journal = AuditJournal(path, SETTINGS, topic, DAY, restart)
    journal.begin(STARTED, ENDS, SHOWN["offsets"])
    return journal


def read(log: Log, records: DayRecords, journal: AuditJournal | None, batch: int) -> None:
    """Read on to the stops as source.read does, `batch` records at a time, saving after each batch."""
    reading = Round(records, records.open())
    for partition in sorted(reading.taken):
        rows = log[partition][records.next[partition]:records.stops[partition]]
        for first in range(0, len(rows), batch):
            more = all(reading.add(partition, r.offset, r.timestamp_ms, r.key, r.value, r.headers)
                       for r in rows[first:first + batch])
            if journal is not None:
                journal.save(records)
            if not more:
                break


def uninterrupted() -> DayRecords:
    records = fresh()
    read(LOG, records, None, 10_000)
    return records


WHOLE = uninterrupted()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.integers(min_value=1, max_value=200), cut=st.integers(min_value=0, max_value=400_000))
def test_a_read_stopped_at_any_byte_of_its_journal_resumes_to_the_records_of_an_uninterrupted_read(
    tmp_path_factory: pytest.TempPathFactory, batch: int, cut: int
) -> None:
    path = tmp_path_factory.mktemp("audit") / "audit.json.progress"
    journal = opened(path)
    first = fresh()
    journal.save(first)  # as run.audit does before reading
    read(LOG, first, journal, batch)
    journal.close()
    raw = path.read_bytes()
    path.write_bytes(raw[:max(raw.index(b"\n") + 1, len(raw) - cut)])  # killed: the tail never written

    resumed = opened(path)
    assert resumed.ends() in (None, ENDS)  # the header alone, or the cut the first run folded to
    records = fresh()
    restored = resumed.restore(records)
    if resumed.resumed is not None:
        assert resumed.resumed["started_ms"] == STARTED and resumed.resumed["view"] == SHOWN["offsets"]
    assert all(r.offset < records.next[r.partition] for r in records.records)  # what it says it has read
    assert restored == len(records.records) <= len(WHOLE.records)
    read(LOG, records, resumed, batch)

    assert sorted(records.records) == sorted(WHOLE.records)
    assert (records.next, records.stops, records.rounds) == (WHOLE.next, WHOLE.stops, WHOLE.rounds) \
        and records.rounds == 1
    assert records.marks_read() == WHOLE.marks_read()


def test_a_resumed_read_recounts_and_judges_the_day_as_an_uninterrupted_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.json.progress"
    journal = opened(path)
    first = fresh()
    half = len(WHOLE.records) // 2
    read({p: rows[:half // N] for p, rows in LOG.items()}, first, journal, 7)  # stopped part way
    journal.close()
    assert 0 < len(first.records) < len(WHOLE.records)

    records = fresh()
    resumed = opened(path)
    assert resumed.restore(records) == len(first.records)
    read(LOG, records, resumed, 7)

    expected = recount_day(SETTINGS.rules, WHOLE, DAY)
    counted = recount_day(SETTINGS.rules, records, DAY)
    assert counted.records == expected.records > 0
    assert compare(SHOWN, counted, day_closed=counted.day_closed).to_json() == \
        compare(SHOWN, expected, day_closed=expected.day_closed).to_json()


def test_a_journal_of_another_day_topic_or_restart_is_not_resumed(tmp_path: Path) -> None:
    path = tmp_path / "audit.json.progress"
    journal = opened(path)
    records = fresh()
    read(LOG, records, journal, 50)
    journal.close()
    assert opened(path, topic="other-orders").resumed is None  # and it replaced the journal: gone for good
    journal = opened(path)
    read(LOG, fresh(), journal, 50)
    journal.close()
    other_day = AuditJournal(path, SETTINGS, "orders", replace(DAY, name="2025-11-29"))
    assert other_day.resumed is None
    other_day.close()
    journal = opened(path)
    read(LOG, fresh(), journal, 50)
    journal.close()
    assert opened(path).resumed is not None
    assert opened(path, restart=True).resumed is None
