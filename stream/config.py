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
    dlq_topic: str
    owners_topic: str
    stream_group: str
    rules: Rules
    batch_max: int
    batch_within_ms: int
    session_timeout_s: int


def load() -> Settings:
    orders_topic = _env("ORDERS_TOPIC", "orders")
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
        aggregates_topic=_env("AGGREGATES_TOPIC", "orders.aggregates"),
        dlq_topic=_env("DLQ_TOPIC", "orders.dlq"),
        owners_topic=_env("OWNERS_TOPIC", f"{orders_topic}.owners"),
        stream_group=_env("STREAM_GROUP", "salesdash-stream"),
        rules=Rules(
            dedupe_horizon_ms=_int("DEDUPE_HORIZON_S", 900) * 1000,
            grace_ms=_int("STREAM_GRACE_S", 5) * 1000,
            allowed_lateness_ms=_int("STREAM_ALLOWED_LATENESS_S", 3600) * 1000,
            seconds_horizon_ms=_int("SECONDS_HORIZON_S", 900) * 1000,
        ),
        batch_max=_int("STREAM_BATCH_MAX", 5000),
        batch_within_ms=_int("STREAM_BATCH_WITHIN_MS", 50),
        session_timeout_s=_int("STREAM_SESSION_TIMEOUT_S", 10),
    )
