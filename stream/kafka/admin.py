"""Topics: the one topic-creation helper, and the topics salesdash needs created with the right counts."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka.cimpl import NewTopic

from stream.config import Settings
from stream.kafka import clients

# Checkpoints and dead letters are the record of truth next to `orders`: keep them as long as `orders`.
KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


class TopicError(RuntimeError):
    pass


def topic_specs(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    # Checkpoints for input partition p go to aggregates partition p, so the counts must match.
    n = settings.orders_partitions
    return {settings.orders_topic: (n, {}), settings.aggregates_topic: (n, KEEP_FOREVER),
            settings.dlq_topic: (n, KEEP_FOREVER), settings.owners_topic: (n, KEEP_FOREVER)}


def create_topics(settings: Settings, topics: dict[str, tuple[int, dict[str, str]]],
                  timeout: float = 15.0) -> None:
    """Create each topic that is missing, with its partition count and config; an existing one is kept
    (a concurrent process may have created it first)."""
    admin = clients.admin(settings)
    existing = admin.list_topics(timeout=timeout).topics
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


def ensure_topics(settings: Settings, timeout: float = 15.0) -> None:
    """Create the topics that are missing; refuse to run against a topic with the wrong partition count."""
    wanted = topic_specs(settings)
    create_topics(settings, wanted, timeout)
    existing = clients.admin(settings).list_topics(timeout=timeout).topics
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
