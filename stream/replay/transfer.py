"""Export a day from the log to a day archive, and import an archive back into a topic.

Export writes the records stamped in the day that a replay of it reads — valid or not, duplicates
included — so export, then import into an empty topic, then replay gives the day's figures again.
Import checks the whole file first, then writes every record with its original key, timestamp and
partition in one Kafka transaction: consumers (the worker, replays) see all of the day or none of it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.core.dayreplay import DayReplay
from stream.core.eventtime import Day, parse_day
from stream.core.salesview import SalesView
from stream.kafka import KafkaException, timeindex
from stream.kafka.admin import TopicError, create_topics, ensure_topics
from stream.kafka.timeindex import DayLogError, NoOrders
from stream.kafka.writer import Writer
from stream.replay import archive, reading
from stream.replay.run import wall_ms

TRANSACTION_TIMEOUT_MS = 900_000  # the broker's default ceiling (transaction.max.timeout.ms)


class ImportRefused(DayLogError):
    pass


def export_day(settings: Settings, topic: str, day: Day, path: Path,
               on_progress: Callable[[DayReplay], None] = lambda replay: None) -> tuple[int, dict[str, int]]:
    """Write the day's records to `path`; returns how many and the day's totals."""
    partitions, spans = reading.locate(settings, topic, day)
    writer = archive.ArchiveWriter(path, day.name, topic, partitions)
    try:
        replay = DayReplay(day, settings.rules, spans, wall_ms=wall_ms,
                           partitions=reading.homes(settings, topic, partitions),
                           on_record=writer.add)
        reading.read(settings, topic, spans, replay, after_batch=lambda: on_progress(replay))
        if replay.day_records == 0:
            raise NoOrders(day.name, topic)
        view = SalesView(settings.rules)
        for checkpoint in replay.cut():
            view.apply(checkpoint.encode())
        totals = view.snapshot(day.name)["totals"]
        writer.commit(totals=totals)
    except BaseException:
        writer.discard()
        raise
    return writer.records, totals


def import_file(settings: Settings, path: Path, topic: str,
                on_progress: Callable[[str, int], None] = lambda stage, n: None) -> archive.Header:
    """Verify the archive, then write it to `topic` in one transaction."""
    header = archive.verify(path, lambda n: on_progress("checked", n))
    partitions = _prepare(settings, topic)
    start_ms = parse_day(header.day)[0]
    probe = timeindex.probe(settings, "import")
    try:
        if timeindex.spans(probe, topic, start_ms):
            raise ImportRefused(
                f"topic {topic} already has records stamped {header.day} or later: the day would be counted "
                f"twice or arrive too late for it; import into a new topic with --topic NAME")
    finally:
        probe.close()
    same_layout = partitions == header.partitions  # else the key decides, as for any producer
    options: dict[str, Any] = {
        "transactional.id": f"salesdash-import-{topic}-{header.day}",  # fences an earlier, stuck import
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        "partitioner": "murmur2_random", "linger.ms": 20,
        "batch.num.messages": 100_000, "queue.buffering.max.messages": 1_000_000,
    }
    writer = Writer(settings, **options)
    try:
        writer.init_transactions(30)
        writer.begin_transaction()
        for n, entry in enumerate(archive.entries(path), start=1):
            writer.send(topic, entry.value, entry.key, partition=entry.partition if same_layout else -1,
                        timestamp=entry.timestamp, headers=entry.headers)
            if n % 10_000 == 0:
                writer.poll(0)
                on_progress("written", n)
        writer.commit_transaction(300)
    except BaseException as exc:
        with contextlib.suppress(KafkaException):  # else the broker aborts it at the transaction timeout
            writer.abort_transaction(30)
        if isinstance(exc, KafkaException):
            reason = exc.args[0].str()
            raise DayLogError(f"import into {topic} failed, nothing was written: {reason}") from None
        raise
    return header


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
