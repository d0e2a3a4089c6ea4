"""Rebuild one partition's state from Kafka: fold its checkpoints, then re-read recent input for dedupe."""

from __future__ import annotations

import time

from stream.config import Settings
from stream.core.checkpoint import Checkpoint, PartitionLedger
from stream.core.partition import PartitionState
from stream.kafka.reader import BEGINNING, last_value, read_range


def recover(settings: Settings, partition: int) -> PartitionState:
    ledger = PartitionLedger(partition, settings.rules.seconds_horizon_ms)
    for message in read_range(settings, settings.aggregates_topic, partition, BEGINNING):
        raw = message.value()
        if raw is not None:
            ledger.accept(Checkpoint.decode(raw))
    state = PartitionState(ledger, settings.rules)
    state.forget_closed()
    if ledger.end is not None and ledger.dedupe_from is not None:
        history = read_range(settings, settings.orders_topic, partition, ledger.dedupe_from, ledger.end)
        state.rebuild_dedupe(((m.offset(), m.value()) for m in history), int(time.time() * 1000))
    return state


def latest_end(settings: Settings, partition: int) -> int | None:
    """`end` of a partition's newest checkpoint (None if none): tells whether memory is stale."""
    last = last_value(settings, settings.aggregates_topic, partition)
    return None if last is None else Checkpoint.decode(last).end
