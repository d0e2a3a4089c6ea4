"""Topics: the one topic-creation and -deletion helpers, and the topics salesdash needs created with the
right counts."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewTopic

from stream.config import Settings
from stream.kafka import clients

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
RECORD_BYTES = str(8 * 1024 * 1024)  # a checkpoint or snapshot record of a busy partition fits


class TopicError(RuntimeError):
    pass


def topic_specs(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """Every topic the worker needs, with its partition count and the configs salesdash owns."""
    # Checkpoints for input partition p go to partition p of each of these, so the counts must match.
    n = settings.orders_partitions
    # Time retention is safe for checkpoints because readers start from the newest snapshot; records roll
    # into new segments often enough that retention can delete whole old ones.
    aggregates = {"retention.ms": str(settings.aggregates_retention_ms), "retention.bytes": "-1",
                  "segment.ms": str(max(1000, min(settings.aggregates_retention_ms // 8, 3_600_000))),
                  "max.message.bytes": RECORD_BYTES, "cleanup.policy": "delete"}
    # Compacted often: a reader loads every record still in the log, so old versions must not pile up.
    compacted = {"cleanup.policy": "compact", "max.message.bytes": RECORD_BYTES, "retention.ms": "-1",
                 "min.cleanable.dirty.ratio": "0.5", "segment.ms": "60000"}
    dead_letters = {"retention.ms": str(settings.dlq_retention_ms), "retention.bytes": "-1",
                    "max.message.bytes": RECORD_BYTES}
    return {settings.orders_topic: (n, {}), settings.aggregates_topic: (n, aggregates),
            settings.snapshots_topic: (n, compacted), settings.state_topic: (n, compacted),
            settings.dlq_topic: (n, dead_letters), settings.owners_topic: (n, KEEP_FOREVER)}


def create_topics(settings: Settings, topics: dict[str, tuple[int, dict[str, str]]],
                  timeout: float = 15.0) -> None:
    """Create each topic that is missing, with its partition count and config; an existing one is kept
    (a concurrent process may have created it first)."""
    refusals = clients.Refusals()
    admin = clients.admin(settings, refusals)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb: a refused login says so
        if refusals:
            raise TopicError(refusals[-1]) from exc
        raise
    new = [NewTopic(name, partitions, settings.replication_factor, config=config)
           for name, (partitions, config) in topics.items() if name not in existing]
    if not new:
        return
    for name, future in admin.create_topics(new, request_timeout=timeout).items():
        try:
            future.result()
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise TopicError(f"cannot create topic {name}: {exc}") from exc
    _wait_for_metadata(admin, list(topics), timeout)


def delete_topics(settings: Settings, names: list[str], timeout: float = 15.0) -> None:
    """Delete each named topic; one that is already gone counts as deleted. After every deletion was
    tried, TopicError names each topic that could not be deleted, and why."""
    if not names:
        return
    admin = clients.admin(settings)
    failures = []
    futures = admin.delete_topics(names, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                failures.append(f"cannot delete topic {name}: {exc.args[0].str()}")
    if failures:
        raise TopicError("; ".join(failures))


def ensure_topics(settings: Settings, timeout: float = 15.0) -> None:
    """Create the topics that are missing and bring the configs salesdash owns up to date on the ones
    that exist (a log written by an earlier version); refuse a topic with the wrong partition count."""
    wanted = topic_specs(settings)
    create_topics(settings, wanted, timeout)
    admin = clients.admin(settings)
    resources = [ConfigResource("topic", name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
        for key, value in config.items()]) for name, (_, config) in wanted.items()
        if config and name != settings.orders_topic]
    for resource, future in admin.incremental_alter_configs(resources, request_timeout=timeout).items():
        try:
            future.result()
        except Exception as exc:
            raise TopicError(f"cannot configure topic {resource.name}: {exc}") from exc
    existing = admin.list_topics(timeout=timeout).topics
    for name, (partitions, _) in wanted.items():
        have = len(existing[name].partitions)
        if have != partitions:
            raise TopicError(
                f"topic {name} has {have} partitions but ORDERS_PARTITIONS is {partitions}; "
                "set ORDERS_PARTITIONS to match or use fresh topic names"
            )


def _wait_for_metadata(admin: Any, names: list[str], timeout: float) -> None:
    # A created topic shows up in metadata a moment later; until then its partitions are missing.
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        if all(name in topics and topics[name].error is None and topics[name].partitions for name in names):
            return
        if time.monotonic() > deadline:
            raise TopicError(f"topics {sorted(names)} were created but do not show up in metadata")
        time.sleep(0.1)
