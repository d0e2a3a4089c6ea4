"""Settings shared by every salesdash process, read from environment variables (defaults in README): the
one place configuration is read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from stream.core.rules import Rules


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"error: {name} must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    bootstrap: str
    security_protocol: str
    sasl_mechanism: str
    sasl_username: str
    sasl_password: str = field(repr=False)  # never in a log line or a traceback
    ssl_ca_location: str
    replication_factor: int
    orders_topic: str
    orders_partitions: int
    aggregates_topic: str
    snapshots_topic: str
    state_topic: str
    dlq_topic: str
    owners_topic: str
    homes_topic: str  # never grown: its partition count is the number of partitions merchants are homed on
    stream_group: str
    rules: Rules
    batch_max: int
    batch_within_ms: int
    session_timeout_s: int
    checkpoint_records: int  # a partition's checkpoint is due once this many records wait ...
    checkpoint_ms: int  # ... or once the oldest of them has waited this long
    snapshot_records: int  # a partition is snapshotted once this many records passed since the last ...
    snapshot_every_s: int  # ... or this long, whichever comes first
    idle_s: int  # a caught-up partition that counted no order this long follows the others' watermark
    aggregates_retention_ms: int  # how long checkpoints are kept (snapshots make older ones unneeded)
    dlq_retention_ms: int
    transaction_timeout_s: int  # the broker aborts (and fences) a partition's transaction open this long


def load() -> Settings:
    orders_topic = _env("ORDERS_TOPIC", "orders")
    aggregates = _env("AGGREGATES_TOPIC", "orders.aggregates")
    return Settings(
        bootstrap=_env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        security_protocol=_env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
        sasl_mechanism=_env("KAFKA_SASL_MECHANISM", ""),
        sasl_username=_env("KAFKA_SASL_USERNAME", ""),
        sasl_password=_env("KAFKA_SASL_PASSWORD", ""),
        ssl_ca_location=_env("KAFKA_SSL_CA_LOCATION", ""),
        replication_factor=_int("KAFKA_REPLICATION_FACTOR", 1),
        orders_topic=orders_topic,
        orders_partitions=_int("ORDERS_PARTITIONS", 8),
        aggregates_topic=aggregates,
        snapshots_topic=_env("SNAPSHOTS_TOPIC", f"{aggregates}.snapshots"),
        state_topic=_env("STATE_TOPIC", f"{aggregates}.state"),
        dlq_topic=_env("DLQ_TOPIC", "orders.dlq"),
        owners_topic=_env("OWNERS_TOPIC", f"{orders_topic}.owners"),
        homes_topic=_env("HOMES_TOPIC", f"{orders_topic}.homes"),
        stream_group=_env("STREAM_GROUP", "salesdash-stream"),
        rules=Rules(
            dedupe_horizon_ms=_int("DEDUPE_HORIZON_S", 900) * 1000,
            grace_ms=_int("STREAM_GRACE_S", 5) * 1000,
            allowed_lateness_ms=_int("STREAM_ALLOWED_LATENESS_S", 3600) * 1000,
            seconds_horizon_ms=_int("SECONDS_HORIZON_S", 900) * 1000,
            max_future_ms=_int("STREAM_MAX_FUTURE_S", 300) * 1000,
            sketch_every_ms=_int("STREAM_SKETCH_EVERY_MS", 5000),
        ),
        batch_max=_int("STREAM_BATCH_MAX", 5000),
        batch_within_ms=_int("STREAM_BATCH_WITHIN_MS", 50),
        session_timeout_s=_int("STREAM_SESSION_TIMEOUT_S", 10),
        checkpoint_records=_int("STREAM_CHECKPOINT_RECORDS", 100),
        checkpoint_ms=_int("STREAM_CHECKPOINT_MS", 250),
        snapshot_records=_int("STREAM_SNAPSHOT_RECORDS", 10_000),
        snapshot_every_s=_int("STREAM_SNAPSHOT_EVERY_S", 300),
        idle_s=_int("STREAM_IDLE_S", 30),
        aggregates_retention_ms=_int("AGGREGATES_RETENTION_S", 3 * 86_400) * 1000,
        dlq_retention_ms=_int("DLQ_RETENTION_S", 7 * 86_400) * 1000,
        transaction_timeout_s=_int("STREAM_TRANSACTION_TIMEOUT_S", 60),
    )
