"""A transactional writer for one input partition: how Kafka itself fences a worker that lost its partition.

Every owner of input partition p writes with the transactional.id derived from the group, the aggregates
topic and p. The newest owner's `init_transactions()` aborts whatever the previous owner left open and bumps
the producer epoch: from then on the old one cannot commit anything (a paused VM, a GC pause, SIGSTOP: it
finds out at its next commit, with `Fenced`). A checkpoint, its dead letters, its reroutes and a snapshot
are committed together or not at all, and readers read committed records only.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from stream.config import Settings
from stream.kafka.writer import Headers, Writer

log = logging.getLogger("salesdash.kafka")
_FENCED = {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
           KafkaError.TRANSACTION_COORDINATOR_FENCED}


class Fenced(RuntimeError):
    """A newer owner of the partition has taken over: nothing of this writer will ever be committed."""


class TransactionFailed(RuntimeError):
    """The transaction was aborted: what it held is not in the log, and memory is ahead of the log.
    `fatal`: the writer itself is unusable and must be built anew (init again)."""

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def transactional_id(settings: Settings, partition: int) -> str:
    return f"salesdash|{settings.stream_group}|{settings.aggregates_topic}|{partition}"


class PartitionWriter:
    """Begin, write, commit; each failure surfaces as Fenced or TransactionFailed (or a KafkaException for
    a broker or configuration failure)."""

    def __init__(self, settings: Settings, partition: int, aggregates_topic: str) -> None:
        self.partition = partition
        self.aggregates_topic = aggregates_topic
        self.checkpoint_offset = -1  # offset of the newest checkpoint written and acknowledged
        self.open = False
        options: dict[str, Any] = {
            "transactional.id": transactional_id(settings, partition),
            "transaction.timeout.ms": 60_000,  # a stuck owner's transaction is aborted this long after
            "retry.backoff.ms": 10,  # the default 100 ms waits out every CONCURRENT_TRANSACTIONS retry
            "linger.ms": 0,  # commit flushes anyway: lingering only delays it
        }
        self._writer = Writer(settings, on_delivery=self._delivered, **options)
        self._errors: list[KafkaError] = []

    def init(self, timeout: float = 30.0) -> None:
        """Claim the partition: fences every earlier writer with this id and ends its open transaction."""
        self._call(self._writer.init_transactions, timeout)

    def begin(self) -> None:
        if not self.open:
            self._call(self._writer.begin_transaction)
            self.open = True

    def send(self, topic: str, value: bytes | None, key: bytes | None, partition: int, *,
             timestamp: int = 0, headers: Headers | None = None) -> None:
        self.begin()
        try:
            self._writer.send(topic, value, key, partition=partition, timestamp=timestamp, headers=headers)
        except KafkaException as exc:
            raise self._translated(exc.args[0]) from exc

    def commit(self, timeout: float = 60.0) -> None:
        """Commit what was written since `begin` (blocking; may run in another thread)."""
        if not self.open:
            return
        self.open = False
        self._call(self._writer.commit_transaction, timeout)
        if self._errors:
            error, self._errors = self._errors[0], []
            raise TransactionFailed(f"a record of the transaction was refused: {error.str()}")

    def abort(self) -> None:
        self.open = False
        with contextlib.suppress(KafkaException, SystemError):  # fenced or fatal: the broker aborts it
            self._writer.abort_transaction(30)

    def close(self) -> None:
        """Let the writer go; a fenced or failed one may say so once more, which changes nothing now."""
        with contextlib.suppress(KafkaException, SystemError):
            self._writer.flush(5)

    def _call(self, method: Any, *args: Any) -> None:
        try:
            method(*args)
        except KafkaException as exc:
            raise self._translated(exc.args[0]) from exc
        except SystemError as exc:  # with a delivery callback set, librdkafka's error arrives as the cause
            cause = exc.__cause__
            if isinstance(cause, KafkaException):
                raise self._translated(cause.args[0]) from exc
            raise

    def _translated(self, error: KafkaError) -> Exception:
        self.open = False
        if error.code() in _FENCED or "fenced" in error.str().lower():
            return Fenced(f"partition {self.partition}: {error.str()}")
        if error.fatal():
            return TransactionFailed(f"partition {self.partition}: {error.str()}", fatal=True)
        if error.txn_requires_abort():
            self.abort()
            return TransactionFailed(f"partition {self.partition}: {error.str()}")
        return KafkaException(error)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(error)
        elif message.topic() == self.aggregates_topic:
            offset = message.offset()
            if offset is not None:
                self.checkpoint_offset = max(self.checkpoint_offset, offset)
