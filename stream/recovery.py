"""Rebuild one partition's state from Kafka: fold its checkpoints, then re-read recent input for dedupe."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer, KafkaError, TopicPartition

from stream.config import Settings
from stream.kafka import client_config
from stream.ledger import Checkpoint, PartitionLedger
from stream.partition import PartitionState


def _consumer(settings: Settings) -> Consumer:
    # A throwaway group that never commits: reading here must not disturb any real group.
    return Consumer(client_config(
        settings, **{"group.id": f"salesdash-recovery-{uuid.uuid4()}", "enable.auto.commit": False,
                     "enable.partition.eof": True, "auto.offset.reset": "earliest"}))


def read_range(settings: Settings, topic: str, partition: int, start: int | None,
               end: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """(offset, value) of topic/partition from `start` (None: the beginning) to `end` (None: current end)."""
    consumer = _consumer(settings)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
        stop = high if end is None else min(end, high)
        first = low if start is None else max(start, low)
        if first >= stop:
            return
        consumer.assign([TopicPartition(topic, partition, first)])
        while True:
            for msg in consumer.consume(1000, timeout=1.0):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    raise RuntimeError(f"reading {topic}/{partition}: {error}")
                offset = msg.offset()
                if offset >= stop:
                    return
                yield offset, msg.value()
                if offset + 1 >= stop:
                    return
    finally:
        consumer.close()


def recover(settings: Settings, partition: int) -> PartitionState:
    ledger = PartitionLedger(partition, settings.rules.seconds_horizon_ms)
    for _, raw in read_range(settings, settings.aggregates_topic, partition, None):
        if raw is not None:
            ledger.accept(Checkpoint.decode(raw))
    state = PartitionState(ledger, settings.rules)
    state.forget_closed()
    if ledger.end is not None and ledger.dedupe_from is not None:
        history = read_range(settings, settings.orders_topic, partition, ledger.dedupe_from, ledger.end)
        state.rebuild_dedupe(history, int(time.time() * 1000))
    return state


def latest_end(settings: Settings, partition: int) -> int | None:
    """`end` of a partition's newest checkpoint (None if none): tells whether memory is stale."""
    consumer = _consumer(settings)
    try:
        tp = TopicPartition(settings.aggregates_topic, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        if high <= low:
            return None
        for _, raw in read_range(settings, settings.aggregates_topic, partition, high - 1, high):
            return None if raw is None else Checkpoint.decode(raw).end
        return None
    finally:
        consumer.close()
