"""The confluent-kafka producer the load generator writes `orders` with: idempotent, compressed, keyed
like faust and the Java client (murmur2), every delivery report counted."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from stream.config import Settings
from stream.kafka import client_config


class Sender:
    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.topic = settings.orders_topic
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.last_error: str | None = None
        self._producer = Producer(client_config(settings, **{
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 500_000,
            "partitioner": "murmur2_random",
            "message.timeout.ms": 300_000,  # ride out a broker restart instead of failing the order
            **overrides,
        }))

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.acked += 1
        else:
            self.failed += 1
            self.last_error = str(error)

    def send(self, value: bytes, key: bytes | None, timestamp_ms: int | None) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value, key, on_delivery=self._delivered,
                                       timestamp=timestamp_ms or 0)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    def poll(self, timeout: float = 0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float = 60.0) -> int:
        """Wait for outstanding deliveries; returns how many are still unacknowledged."""
        return int(self._producer.flush(timeout))
