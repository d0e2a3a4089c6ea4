"""Kafka plumbing shared by the processes: client settings (incl. SASL/TLS) and creating the topics."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from stream.config import Settings

# Checkpoints and dead letters are the record of truth next to `orders`: keep them as long as `orders`.
_KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka settings; production clusters differ only by these environment variables."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "security.protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism
        config["sasl.username"] = settings.sasl_username
        config["sasl.password"] = settings.sasl_password
    if settings.ssl_ca_location:
        config["ssl.ca.location"] = settings.ssl_ca_location
    config.update(extra)
    return config


class TopicError(RuntimeError):
    pass


def topic_specs(settings: Settings) -> dict[str, int]:
    # Checkpoints for input partition p go to aggregates partition p, so the counts must match.
    n = settings.orders_partitions
    return {settings.orders_topic: n, settings.aggregates_topic: n, settings.dlq_topic: n,
            settings.owners_topic: n}


def ensure_topics(settings: Settings, timeout: float = 15.0) -> None:
    """Create the topics that are missing; refuse to run against a topic with the wrong partition count."""
    refused: list[str] = []  # a refused login or certificate is only told to error_cb, not to list_topics
    admin = AdminClient(client_config(settings, log_level=0, error_cb=lambda e: _refusal(e, refused)))
    wanted = topic_specs(settings)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        admin.poll(0)  # serves error_cb
        if refused:
            raise TopicError(refused[-1]) from exc
        raise
    missing = [
        NewTopic(name, partitions, settings.replication_factor,
                 config={} if name == settings.orders_topic else _KEEP_FOREVER)
        for name, partitions in wanted.items() if name not in existing
    ]
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=timeout).items():
            try:
                future.result()
            except Exception as exc:  # a concurrent process may have created it first
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise TopicError(f"cannot create topic {name}: {exc}") from exc
        existing = _wait_for_metadata(admin, wanted, timeout)
    for name, partitions in wanted.items():
        have = len(existing[name].partitions)
        if have != partitions:
            raise TopicError(
                f"topic {name} has {have} partitions but ORDERS_PARTITIONS is {partitions}; "
                "set ORDERS_PARTITIONS to match or use fresh topic names"
            )


def _refusal(error: KafkaError, refused: list[str]) -> None:
    # Without this a wrong password or CA shows up as "Broker transport failure" after the whole timeout.
    if error.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
        refused.append(error.str())


def _wait_for_metadata(admin: AdminClient, wanted: dict[str, int], timeout: float) -> dict[str, Any]:
    # A created topic shows up in metadata a moment later; until then its partitions are missing.
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        if all(name in topics and topics[name].error is None and topics[name].partitions for name in wanted):
            return topics
        if time.monotonic() > deadline:
            raise TopicError(f"topics {sorted(wanted)} were created but do not show up in metadata")
        time.sleep(0.1)
