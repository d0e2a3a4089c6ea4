"""Export a day from the log to a day archive, and import an archive back into a topic.

Export writes the records stamped in the day that a replay of it reads — valid or not, duplicates
included — so export, then import into an empty topic, then replay gives the day's figures again.
Import checks the whole file first, then writes every record with its original key, timestamp and
partition, in transactions of CHUNK records. Stopped (SIGTERM, kill -9) and started again, it continues
after the last committed chunk (stream.kafka.prefix): no record is written twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.audit.murmur2 import partition_for
from stream.config import Settings
from stream.core.dayreplay import DayReplay
from stream.core.eventtime import Day, parse_day
from stream.core.salesview import SalesView
from stream.jobs import dayexport
from stream.kafka import KafkaException, prefix, timeindex
from stream.kafka.admin import TopicError, create_topics, ensure_topics
from stream.kafka.timeindex import DayLogError, NoOrders
from stream.kafka.writer import Writer
from stream.replay import archive

TRANSACTION_TIMEOUT_MS = 900_000  # the broker's default ceiling (transaction.max.timeout.ms)
CHUNK = 20_000  # records per import transaction: what a stopped import keeps, and continues after


class ImportRefused(DayLogError):
    pass


def export_day(settings: Settings, topic: str, day: Day, path: Path,
               on_progress: Callable[[DayReplay], None] = lambda replay: None, restart: bool = False,
               say: Callable[[str], None] = lambda line: None) -> tuple[int, dict[str, int]]:
    """Write the day's records to `path`, resuming an export of it that was stopped (FILE.progress)
    unless `restart`; returns how many and the day's totals."""
    replay, _ = dayexport.export(settings, topic, day, path, restart, on_progress, say)
    if replay.day_records == 0:
        replay.journal.remove()
        raise NoOrders(day.name, topic)
    view = SalesView(settings.rules)
    for checkpoint in replay.cut():
        view.apply(checkpoint.encode())
    totals = view.snapshot(day.name)["totals"]
    writer = dayexport.write_archive(replay, path, topic, replay.partitions)
    writer.commit(totals=totals)
    replay.journal.remove()
    return writer.records, totals


def import_file(settings: Settings, path: Path, topic: str,
                on_progress: Callable[[str, int], None] = lambda stage, n: None
                ) -> tuple[archive.Header, int]:
    """Verify the archive, then write it to `topic` in transactions of CHUNK records; returns the header
    and how many records the topic already held from an earlier, stopped import of the same file."""
    header = archive.verify(path, lambda n: on_progress("checked", n))
    partitions = _prepare(settings, topic)
    start_ms = parse_day(header.day)[0]
    options: dict[str, Any] = {
        "transactional.id": f"salesdash-import-{topic}-{header.day}",  # fences an earlier, stuck import
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        "linger.ms": 20, "batch.num.messages": 100_000, "queue.buffering.max.messages": 1_000_000,
    }
    writer = Writer(settings, **options)
    writer.init_transactions(30)  # aborts what a killed import left open: only committed chunks remain
    place = placing(header.partitions, partitions)
    held = prefix.held_records(settings, topic, start_ms)[1]
    try:
        check = prefix.Prefix(held)
        for entry in archive.entries(path):  # nothing is written unless the topic holds this file's prefix
            if not check.left:
                break
            check.holds(place(entry), entry.value)
        check.check_complete()
    except prefix.NotAPrefix:
        raise ImportRefused(
            f"topic {topic} already has records stamped {header.day} or later: the day would be counted "
            f"twice or arrive too late for it; import into a new topic with --topic NAME") from None
    done = prefix.Prefix(held)
    try:
        writer.begin_transaction()
        written = 0
        for n, entry in enumerate(archive.entries(path), start=1):
            partition = place(entry)
            if done.holds(partition, entry.value):
                continue
            writer.send(topic, entry.value, entry.key, partition=partition, timestamp=entry.timestamp,
                        headers=entry.headers)
            written += 1
            if written % CHUNK == 0:
                writer.commit_transaction(300)
                writer.begin_transaction()
            if n % 10_000 == 0:
                writer.poll(0)
                on_progress("written", n)
        writer.commit_transaction(300)
    except BaseException as exc:
        with contextlib.suppress(KafkaException):  # else the broker aborts it at the transaction timeout
            writer.abort_transaction(30)
        if isinstance(exc, KafkaException):
            reason = exc.args[0].str()
            raise DayLogError(f"import into {topic} failed: {reason} (run it again: it continues)") from None
        raise
    return header, done.passed


def placing(archived: int, partitions: int) -> Callable[[archive.Entry], int]:
    """Where an archived record goes: its own partition in a topic of the same layout, else where its key
    puts it (murmur2, as the Java client and faust do; a keyless one by its old partition)."""
    if archived == partitions:
        return lambda entry: entry.partition
    return lambda entry: entry.partition % partitions if entry.key is None else \
        partition_for(entry.key, partitions)


def _prepare(settings: Settings, topic: str) -> int:
    """Create the topic if missing (ORDERS_PARTITIONS partitions); returns its partition count."""
    if topic == settings.orders_topic:
        ensure_topics(settings)
    else:
        try:
            create_topics(settings, {topic: (settings.orders_partitions, {})})
        except TopicError as exc:
            raise DayLogError(str(exc)) from None
    probe = timeindex.probe(settings, "import")
    try:
        deadline = time.monotonic() + 15
        while True:  # a topic just created shows up in metadata a moment later
            try:
                return len(timeindex.partitions(probe, topic))
            except DayLogError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        probe.close()
