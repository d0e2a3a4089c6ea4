"""The one place Kafka clients are built: librdkafka settings from `Settings` (stream.config's
KafkaConnection maps SASL and TLS), then a consumer, producer or admin client for a purpose. Production
clusters differ only by those settings."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

from stream.config import Settings

log = logging.getLogger("salesdash.kafka")
MAX_RECORD_BYTES = 8_388_608  # a busy batch's checkpoint can outgrow Kafka's 1 MB default

# How much a consumer fetches ahead. Small: RSS stays flat however far behind a reader is. Large: a replay
# reads as fast as it can. A full queue pauses fetching fetch.queue.backoff.ms (librdkafka's default of
# 1 s starved readers half the time), so it resumes almost at once.
PREFETCH = {
    "small": {"fetch.max.bytes": 8_388_608, "max.partition.fetch.bytes": 1_048_576,
              "queued.max.messages.kbytes": 4_096, "fetch.queue.backoff.ms": 20},
    "large": {"fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760,
              "queued.max.messages.kbytes": 65_536, "fetch.queue.backoff.ms": 20},
}


def config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka settings for `settings`' cluster, plus `extra`."""
    return {**settings.kafka.librdkafka(), **extra}


def consumer(settings: Settings, purpose: str, *, group: str | None = None, prefetch: str = "large",
             **extra: Any) -> Consumer:
    """A consumer that is assigned its partitions (it never subscribes) and never commits: by default in
    a throwaway group, so no consumer group learns that it read. Committed records only, so a
    transaction's records appear all at once or not at all."""
    return Consumer(config(settings, **{
        "group.id": group or f"salesdash-{purpose}-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        # A fetch at the end of the log waits this long for more: short, so the end of a range is seen
        # at once (librdkafka's 500 ms made every read of a partition's history cost a second).
        "fetch.wait.max.ms": 20,
        **PREFETCH[prefetch],
        "log_level": 0,  # failures surface as errors the reader handles: one line, not a log spray
        "error_cb": _quiet,
        **extra,
    }))


def producer(settings: Settings, **extra: Any) -> Producer:
    """An idempotent producer: retries never duplicate or reorder, and every write waits for all replicas."""
    return Producer(config(settings, **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": MAX_RECORD_BYTES,
        "log_level": 0,
        "error_cb": _quiet,
        **extra,
    }))


class Refusals(list[str]):
    """Why the cluster refused us (a login, a certificate): librdkafka tells only error_cb, and the call
    that failed then says just "transport failure"."""

    def __call__(self, error: KafkaError) -> None:
        if error.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            self.append(error.str())


def admin(settings: Settings, refusals: Refusals | None = None) -> AdminClient:
    return AdminClient(config(settings, log_level=0, error_cb=refusals if refusals is not None else _quiet))


def _quiet(error: KafkaError) -> None:
    # Connection trouble is retried by librdkafka itself; what a caller must act on reaches it as an error.
    log.debug("kafka: %s", error.str())
