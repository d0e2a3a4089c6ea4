"""The faust-streaming worker: a thin adapter from `orders` to checkpoints, dead letters and metrics.

faust gives the consumer group, partition assignment and rebalancing; the counting is
`stream.partition`, the exactness is `stream.ledger` (see docs/exactness.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from pathlib import Path
from typing import Any

import faust
from faust.types import EventT

from stream import config
from stream.orders import InvalidOrder
from stream.partition import PartitionState
from stream.recovery import recover

log = logging.getLogger("salesdash.stream")
settings = config.load()


def _credentials() -> Any:
    protocol = settings.security_protocol.upper()
    if protocol == "PLAINTEXT":
        return None
    context = ssl.create_default_context(cafile=settings.ssl_ca_location or None)
    if protocol.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.sasl_username, password=settings.sasl_password,
            mechanism=settings.sasl_mechanism or "PLAIN",
            ssl_context=context if protocol == "SASL_SSL" else None,
        )
    return faust.SSLCredentials(context)


app = faust.App(
    settings.stream_group,
    broker=[f"kafka://{host.strip()}" for host in settings.bootstrap.split(",")],
    broker_credentials=_credentials(),
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=settings.orders_partitions,
    web_enabled=False,
    datadir=os.environ.get("FAUST_DATADIR") or Path(__file__).resolve().parent.parent / "var" / "faust",
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=max(1, settings.session_timeout_s // 4),
    broker_commit_interval=1.0,
    producer_acks=-1,
    producer_max_request_size=4 * 1024 * 1024,
    stream_buffer_maxsize=max(4096, settings.batch_max * 2),
)

orders = app.topic(settings.orders_topic, key_type=bytes, value_type=bytes,
                   partitions=settings.orders_partitions)
aggregates = app.topic(settings.aggregates_topic, key_type=bytes, value_type=bytes,
                       partitions=settings.orders_partitions)
dead_letters = app.topic(settings.dlq_topic, key_type=bytes, value_type=bytes,
                         partitions=settings.orders_partitions)

_states: dict[int, PartitionState] = {}


@app.on_partitions_revoked.connect
async def _forget(sender: Any, revoked: Any, **kwargs: Any) -> None:
    # Whoever gets a partition next rebuilds it from its checkpoints; stale memory must not survive.
    for tp in revoked:
        if tp.topic == settings.orders_topic:
            _states.pop(tp.partition, None)


async def _state(partition: int) -> PartitionState:
    state = _states.get(partition)
    if state is None:
        started = time.monotonic()
        state = await asyncio.to_thread(recover, settings, partition)
        log.info("partition %d recovered in %.2fs: input applied below offset %s, %d dedupe ids",
                 partition, time.monotonic() - started, state.ledger.end, len(state.dedupe))
        _states[partition] = state
    return state


async def process(events: list[EventT]) -> None:
    """Count a batch, then publish dead letters and one checkpoint per partition and wait for Kafka to
    acknowledge them all; only then does faust ack (and later commit) the input offsets."""
    now_ms = int(time.time() * 1000)
    touched: dict[int, PartitionState] = {}
    pending = []
    for event in events:
        message = event.message
        state = touched.get(message.partition)
        if state is None:
            state = touched[message.partition] = await _state(message.partition)
        result = state.apply(message.offset, message.value, now_ms)
        if isinstance(result, InvalidOrder):
            pending.append(await dead_letters.send(
                key=message.key, value=message.value, headers=[
                    ("reason", result.reason.encode()), ("detail", result.detail.encode()),
                    ("source", f"{message.topic}/{message.partition}/{message.offset}".encode()),
                ]))
    for partition, state in touched.items():
        record = state.checkpoint(now_ms)
        if record is not None:
            pending.append(await aggregates.send(key=str(partition).encode(), value=record.encode(),
                                                 partition=partition))
    try:
        await asyncio.gather(*pending)
    except Exception:
        # Memory is ahead of the log now: forget it, so the next batch recovers from what Kafka holds.
        for partition in touched:
            _states.pop(partition, None)
        raise


@app.agent(orders, concurrency=1)
async def count(stream: faust.StreamT) -> None:
    async for events in stream.take_events(settings.batch_max, within=settings.batch_within_ms / 1000):
        await process(list(events))
