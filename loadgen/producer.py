"""The confluent-kafka producer the load generator writes `orders` with: idempotent, lz4-compressed, keyed
like faust and the Java client (murmur2), and every delivery failure counted, never dropped.

librdkafka is asked to report failures only (a success report per message costs ~10% of throughput):
each message ends either acknowledged or in a failure report, so the acknowledged count is
sent - failed - still in flight, exact at every moment and final after `flush`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from stream.config import Settings
from stream.kafka import KafkaError, Message
from stream.kafka.writer import Writer

# value, key, Kafka timestamp (ms)
Outgoing = tuple[bytes, bytes | None, int]

PRODUCER_SETTINGS: dict[str, Any] = {
    "partitioner": "murmur2_random",  # the Java client's and faust's partition for a key
    "linger.ms": 20,
    "topic.metadata.refresh.interval.ms": 5_000,  # partitions added to `orders` are written to within 5 s
    "batch.num.messages": 100_000,
    "queue.buffering.max.messages": 1_000_000,
    "message.timeout.ms": 300_000,  # ride out a broker restart instead of failing the order
    "delivery.report.only.error": True,
    "log_level": 2,  # connection errors arrive through error_cb instead of spraying stderr
}


class Abandoned(Exception):
    """Told to stop while waiting for room in the producer's queue; `unsent` never reached it."""

    def __init__(self, unsent: list[bytes]) -> None:
        super().__init__(f"{len(unsent)} messages not sent")
        self.unsent = unsent


class Sender:
    def __init__(self, settings: Settings, on_failed: Callable[[bytes | None], None] | None = None,
                 stop_waiting: Callable[[], bool] = lambda: False, **overrides: Any) -> None:
        self.topic = settings.orders_topic
        self.sent = 0
        self.failed = 0
        self.bytes = 0
        self.last_error: str | None = None
        self.broker_errors = 0
        self.broker_error: str | None = None  # the latest, until messages flow again
        self._on_failed = on_failed
        self._stop_waiting = stop_waiting
        self._acked_at_error = 0
        self._writer = Writer(settings, on_delivery=self._delivery_failed, give_up=self._waiting, **{
            **PRODUCER_SETTINGS, "error_cb": self._broker_trouble, **overrides})

    def _delivery_failed(self, error: KafkaError | None, message: Message) -> None:
        if error is None:  # only reached if overrides turn success reports back on
            return
        self.failed += 1
        self.last_error = str(error)
        if self._on_failed is not None:
            self._on_failed(message.value())

    def _broker_trouble(self, error: KafkaError) -> None:
        self.broker_errors += 1
        self.broker_error = error.str()
        self._acked_at_error = self.acked

    @property
    def in_flight(self) -> int:
        return len(self._writer)

    @property
    def acked(self) -> int:
        return self.sent - self.failed - self.in_flight

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        produce, topic = self._writer.produce, self.topic
        sent = size = 0
        pending = iter(messages)
        try:
            for value, key, timestamp in pending:
                try:
                    produce(topic, value, key, timestamp=timestamp)
                except BufferError:  # local queue full (a slow or absent broker): wait for room, then retry
                    if not self._writer.send(topic, value, key, timestamp=timestamp):
                        raise Abandoned([value, *(rest[0] for rest in pending)]) from None
                sent += 1
                size += len(value)
        finally:
            self.sent += sent
            self.bytes += size
        self._writer.poll(0)

    def poll(self, timeout: float = 0) -> None:
        self._writer.poll(timeout)
        self._waiting()

    def _waiting(self) -> bool:
        """Called while waiting for room: True to give up."""
        if self.broker_error and self.acked > self._acked_at_error:
            self.broker_error = None  # acknowledgements flow again
        return self._stop_waiting()

    def abandon(self) -> None:
        """Give up on what is still unacknowledged: each gets a failure report (it may or may not be in
        the log, so it is not counted as acknowledged)."""
        self._writer.purge()

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` s for outstanding deliveries; returns how many are still unresolved."""
        return self._writer.flush(timeout)
