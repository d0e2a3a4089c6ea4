"""Topics: the one topic-creation, -growing and -deletion helpers, and the topics salesdash needs created
with the right counts.

`orders` may be grown while everything runs (create_partitions): the worker's own topics follow it
(`grow_topics`), so input partition p always has partition p of each to publish to. Merchants stay homed
on the first ORDERS_PARTITIONS partitions, the count `<orders>.homes` was created with and keeps for good
(docs/operations.md, "Adding partitions")."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.cimpl import NewPartitions, NewTopic

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
            settings.dlq_topic: (n, dead_letters), settings.owners_topic: (n, KEEP_FOREVER),
            settings.homes_topic: (n, KEEP_FOREVER)}


def following_topics(settings: Settings) -> list[str]:
    """The topics whose partition p belongs to input partition p, so they grow with `orders`; the owners
    topic last: owning a partition must find the others already grown."""
    return [settings.aggregates_topic, settings.snapshots_topic, settings.state_topic, settings.dlq_topic,
            settings.owners_topic]


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
    homes = len(admin.list_topics(timeout=timeout).topics[settings.homes_topic].partitions)
    if homes != settings.orders_partitions:
        raise TopicError(
            f"topic {settings.homes_topic} has {homes} partitions but ORDERS_PARTITIONS is "
            f"{settings.orders_partitions}; merchants are homed on the count the topics were created "
            "with: set ORDERS_PARTITIONS to it (grow orders with create_partitions) or use fresh topic names"
        )
    grow_topics(settings, timeout)


def grow_topics(settings: Settings, timeout: float = 15.0) -> int:
    """Grow each topic that follows `orders` to its partition count; returns that count. Refuses an
    `orders` with fewer partitions than ORDERS_PARTITIONS (a topic cannot shrink)."""
    admin = clients.admin(settings)
    topics = admin.list_topics(timeout=timeout).topics
    count = len(topics[settings.orders_topic].partitions)
    if count < settings.orders_partitions:
        raise TopicError(f"topic {settings.orders_topic} has {count} partitions but ORDERS_PARTITIONS is "
                         f"{settings.orders_partitions}; a topic cannot shrink: use fresh topic names")
    for name in following_topics(settings):
        have = len(topics[name].partitions)
        if have > count:
            raise TopicError(f"topic {name} has {have} partitions, {settings.orders_topic} only {count}")
        if have == count:
            continue
        # One topic at a time, in order: the owners topic must not grow before the others have.
        for future in admin.create_partitions([NewPartitions(name, count)], request_timeout=timeout).values():
            try:
                future.result()
            except KafkaException as exc:  # another worker grew it first
                if exc.args[0].code() != KafkaError.INVALID_PARTITIONS:
                    raise TopicError(f"cannot grow topic {name} to {count} partitions: {exc}") from exc
        _wait_for_metadata(admin, [name], timeout, partitions=count)
    return count


def _wait_for_metadata(admin: Any, names: list[str], timeout: float, partitions: int = 1) -> None:
    # A created (or grown) topic shows up in metadata a moment later; until then partitions are missing.
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        if all(name in topics and topics[name].error is None and len(topics[name].partitions) >= partitions
               for name in names):
            return
        if time.monotonic() > deadline:
            raise TopicError(f"topics {sorted(names)} were created but do not show up in metadata")
        time.sleep(0.1)
