"""A transactional writer for one input partition: how Kafka itself fences a worker that lost its partition.

Every owner of input partition p writes with the transactional.id derived from the group, the aggregates
topic and p. The newest owner's `init_transactions()` aborts whatever the previous owner left open and bumps
the producer epoch: from then on the old one cannot commit anything (a paused VM, a GC pause, SIGSTOP: it
finds out at its next commit, with `Fenced`). A checkpoint, its dead letters, its reroutes and a snapshot
are committed together or not at all, and readers read committed records only.

Every error of a transactional call is classified (`classify`), the way Kafka Streams does it: a writer
that can never commit again (fenced, its transaction aborted by the broker's timeout, a fatal error) is
`Fenced`, and the worker gives the partition up, as a "task migrated"; an abortable error is aborted and
`TransactionFailed`; an error after which the transaction's outcome is unknown (a commit that timed out)
is `TransactionFailed(fatal=True)`: the writer is replaced; anything else is a configuration failure.
"""

from __future__ import annotations

import contextlib
import logging
from enum import Enum
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message

from stream.config import Settings
from stream.kafka.writer import Headers, Writer

log = logging.getLogger("salesdash.kafka")
# Codes after which this producer can never commit again. librdkafka reports a fence as _FENCED (fatal), a
# later produce() as _FATAL with fatal() False (the error is built from the code alone), and a transaction
# the broker aborted for its timeout as a fence too (the coordinator bumped the epoch).
_LOST = {KafkaError._FATAL, KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH,
         KafkaError.TRANSACTION_COORDINATOR_FENCED, KafkaError.INVALID_PRODUCER_ID_MAPPING,
         KafkaError.INVALID_TXN_STATE}
# produce() outside a usable transaction (it is in an abortable error state): abort, then start again.
_ABORTABLE = {KafkaError._STATE, KafkaError.TRANSACTION_ABORTABLE}
# The transaction may or may not have been committed: only a fresh claim (init_transactions) settles it.
_UNKNOWN = {KafkaError._TIMED_OUT, KafkaError._TIMED_OUT_QUEUE, KafkaError._TRANSPORT,
            KafkaError._ALL_BROKERS_DOWN, KafkaError._MSG_TIMED_OUT, KafkaError._PURGE_QUEUE,
            KafkaError._PURGE_INFLIGHT}


class Kind(Enum):
    LOST = "lost"  # never commits again: give the partition up (a newer owner may hold it)
    ABORT = "abort"  # abort the transaction; the writer stays usable
    UNKNOWN = "unknown"  # the transaction's outcome is unknown: replace the writer
    CONFIG = "config"  # neither: a configuration or programming failure, raised as it is


def classify(error: KafkaError) -> Kind:
    """What an error raised by a transactional producer means for its partition."""
    if error.fatal() or error.code() in _LOST or "fenced" in error.str().lower():
        return Kind.LOST
    if error.txn_requires_abort() or error.code() in _ABORTABLE:
        return Kind.ABORT
    if error.retriable() or error.code() in _UNKNOWN:
        return Kind.UNKNOWN
    return Kind.CONFIG


class Fenced(RuntimeError):
    """This writer can never commit again: a newer owner of the partition claimed it, the broker aborted
    its transaction for its timeout, or librdkafka raised a fatal error. Nothing of it will be committed."""


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
            # A stuck owner's transaction is aborted this long after it began (and the owner then fenced).
            "transaction.timeout.ms": settings.transaction_timeout_s * 1000,
            "error_cb": self._on_error,
            "retry.backoff.ms": 10,  # the default 100 ms waits out every CONCURRENT_TRANSACTIONS retry
            "linger.ms": 0,  # commit flushes anyway: lingering only delays it
        }
        self._writer = Writer(settings, on_delivery=self._delivered, **options)
        self._errors: list[KafkaError] = []
        self._fatal: KafkaError | None = None  # why the producer died: later calls say only _FATAL

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
        except (KafkaException, SystemError) as exc:
            error = _kafka_error(exc)
            if error is None:
                raise
            raise self._translated(error) from exc

    def _translated(self, error: KafkaError) -> Exception:
        self.open = False
        kind = classify(error)
        why = f"partition {self.partition}: {error.str()}"
        if kind is Kind.LOST:
            with contextlib.suppress(KafkaException, SystemError):
                self._writer.poll(0)  # serves error_cb: librdkafka names the fatal error's cause only there
            cause = self._fatal
            return Fenced(why if cause is None or cause.str() in why else f"{why} ({cause.str()})")
        if kind is Kind.ABORT:
            return self._aborted(why)
        if kind is Kind.UNKNOWN:
            return TransactionFailed(why, fatal=True)
        return KafkaException(error)

    def _aborted(self, why: str) -> Exception:
        try:
            self._writer.abort_transaction(30)
        except (KafkaException, SystemError) as exc:  # the abort says what the writer is now
            error = _kafka_error(exc)
            if error is not None and classify(error) is Kind.LOST:
                return Fenced(f"{why}; then {error.str()}")
            return TransactionFailed(f"{why}; the abort failed too ({exc})", fatal=True)
        return TransactionFailed(why)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
        log.debug("partition %d: kafka: %s", self.partition, error.str())

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._errors.append(error)
        elif message.topic() == self.aggregates_topic:
            offset = message.offset()
            if offset is not None:
                self.checkpoint_offset = max(self.checkpoint_offset, offset)


def _kafka_error(exc: BaseException) -> KafkaError | None:
    """The KafkaError of a call's exception; with a delivery callback set, librdkafka's error arrives as
    the cause of a SystemError."""
    for candidate in (exc, exc.__cause__):
        if isinstance(candidate, KafkaException) and isinstance(candidate.args[0], KafkaError):
            return candidate.args[0]
    return None
