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

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from app.view import SalesView
from stream import archive, dayfeed, daylog
from stream.config import Settings
from stream.daylog import Day, DayLogError, NoOrders
from stream.dayreader import DayReader
from stream.kafka import client_config, ensure_topics
from stream.windows import parse_day

TRANSACTION_TIMEOUT_MS = 900_000  # the broker's default ceiling (transaction.max.timeout.ms)


class ImportRefused(DayLogError):
    pass


def export_day(settings: Settings, topic: str, day: Day, path: Path,
               on_progress: Callable[[DayReader], None] = lambda reader: None) -> tuple[int, dict[str, int]]:
    """Write the day's records to `path`; returns how many and the day's totals."""
    partitions, spans = dayfeed.locate(settings, topic, day)
    writer = archive.ArchiveWriter(path, day.name, topic, partitions)
    try:
        reader = DayReader(day, settings.rules, spans, on_record=writer.add)
        dayfeed.read(settings, topic, spans, reader, after_batch=lambda: on_progress(reader))
        if reader.day_records == 0:
            raise NoOrders(day.name, topic)
        view = SalesView(settings.rules.seconds_horizon_ms, settings.rules.grace_ms)
        for checkpoint in reader.cut():
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
    probe = dayfeed.consumer(settings, "import")
    try:
        if daylog.spans(probe, topic, start_ms):
            raise ImportRefused(
                f"topic {topic} already has records stamped {header.day} or later: the day would be counted "
                f"twice or arrive too late for it; import into a new topic with --topic NAME")
    finally:
        probe.close()
    same_layout = partitions == header.partitions  # else the key decides, as for any producer
    producer = Producer(client_config(settings, **{
        "transactional.id": f"salesdash-import-{topic}-{header.day}",  # fences an earlier, stuck import
        "transaction.timeout.ms": TRANSACTION_TIMEOUT_MS,
        "acks": "all", "compression.type": "lz4", "partitioner": "murmur2_random", "linger.ms": 20,
        "batch.num.messages": 100_000, "queue.buffering.max.messages": 1_000_000, "log_level": 0,
    }))
    try:
        producer.init_transactions(30)
        producer.begin_transaction()
        produce = producer.produce
        for n, entry in enumerate(archive.entries(path), start=1):
            partition = entry.partition if same_layout else -1
            while True:
                try:
                    produce(topic, entry.value, entry.key, partition=partition, timestamp=entry.timestamp,
                            headers=entry.headers)
                    break
                except BufferError:
                    producer.poll(0.05)
            if n % 10_000 == 0:
                producer.poll(0)
                on_progress("written", n)
        producer.commit_transaction(300)
    except BaseException as exc:
        with contextlib.suppress(KafkaException):  # else the broker aborts it at the transaction timeout
            producer.abort_transaction(30)
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
        admin = AdminClient(client_config(settings, log_level=0))
        if topic not in admin.list_topics(timeout=15).topics:
            new = NewTopic(topic, settings.orders_partitions, settings.replication_factor)
            try:
                admin.create_topics([new], request_timeout=15)[topic].result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise DayLogError(f"cannot create topic {topic}: {exc}") from None
    probe = dayfeed.consumer(settings, "import")
    try:
        deadline = time.monotonic() + 15
        while True:  # a topic just created shows up in metadata a moment later
            try:
                return len(daylog.partitions(probe, topic))
            except DayLogError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        probe.close()
