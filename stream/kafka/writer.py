"""The one produce path: a record waits for room when librdkafka's queue is full (a slow or absent broker)
instead of failing, and every delivery error is kept for the caller to act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message

from stream.config import Settings
from stream.kafka import clients

Headers = list[tuple[str, bytes]]


class Writer:
    def __init__(self, settings: Settings, *, on_delivery: Callable[[KafkaError | None, Message], None]
                 | None = None, give_up: Callable[[], bool] = lambda: False, **options: Any) -> None:
        self.errors: list[str] = []  # delivery errors not yet seen by the caller
        self._give_up = give_up
        self._producer = clients.producer(settings, on_delivery=on_delivery or self._delivered, **options)
        self.produce = self._producer.produce  # the fast path for hot loops; on BufferError call send()

    def send(self, topic: str, value: bytes | None, key: bytes | None = None, *, partition: int = -1,
             timestamp: int = 0, headers: Headers | None = None) -> bool:
        """Queue one record, waiting for room as long as it takes; False if `give_up()` said stop first."""
        kwargs: dict[str, Any] = {"timestamp": timestamp}
        if partition >= 0:
            kwargs["partition"] = partition
        if headers:
            kwargs["headers"] = headers
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                return True
            except BufferError:
                self._producer.poll(0.05)
                if self._give_up():
                    return False

    def poll(self, timeout: float = 0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` s for every delivery; returns how many are still unresolved."""
        return int(self._producer.flush(timeout))

    def purge(self) -> None:
        """Drop what is still queued: each gets a failure report."""
        self._producer.purge()
        self._producer.flush(5)

    def __len__(self) -> int:
        return len(self._producer)

    # Transactions: fencing (only the newest producer with a transactional.id can commit) and atomicity.
    def init_transactions(self, timeout: float = 30.0) -> None:
        self._producer.init_transactions(timeout)

    def begin_transaction(self) -> None:
        self._producer.begin_transaction()

    def commit_transaction(self, timeout: float = 60.0) -> None:
        self._producer.commit_transaction(timeout)

    def abort_transaction(self, timeout: float = 30.0) -> None:
        self._producer.abort_transaction(timeout)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.errors.append(f"{message.topic()}: {error.str()}")
