"""How a transactional writer's errors are read, with KafkaError objects built as librdkafka builds them:
a fence or a fatal error gives the partition up (Fenced), an abortable one is aborted, an unknown outcome
replaces the writer, and only a configuration failure is raised as it is. No broker: the calls that would
reach one are replaced by ones that raise what librdkafka raised (see docs/exactness.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st

from stream import config
from stream.kafka.transactions import Fenced, Kind, PartitionWriter, TransactionFailed, classify

CODES = sorted({getattr(KafkaError, name) for name in dir(KafkaError)
                if name.isupper() or (name.startswith("_") and name[1:].isupper())} - {None}, key=int)


@pytest.mark.parametrize(("error", "kind"), [
    # produce() after the fence: built from the code alone, so fatal() is False (seen on this machine)
    (KafkaError(KafkaError._FATAL, "Unable to produce message: Local: Fatal error"), Kind.LOST),
    # flush()/commit/abort/begin after the fence, and a commit after the broker's timeout abort
    (KafkaError(KafkaError._FENCED, "Failed to end transaction", fatal=True), Kind.LOST),
    # the broker's own codes, should a path ever pass them through
    (KafkaError(KafkaError.PRODUCER_FENCED), Kind.LOST),
    (KafkaError(KafkaError.INVALID_PRODUCER_EPOCH), Kind.LOST),
    (KafkaError(KafkaError.INVALID_TXN_STATE), Kind.LOST),
    (KafkaError(KafkaError.TRANSACTION_COORDINATOR_FENCED), Kind.LOST),
    # an idempotence failure is fatal whatever its code
    (KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, fatal=True), Kind.LOST),
    # an abortable error, flagged by librdkafka
    (KafkaError(KafkaError._MSG_TIMED_OUT, "1 message failed delivery", txn_requires_abort=True), Kind.ABORT),
    # produce() while the transaction is in an abortable error state
    (KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state"), Kind.ABORT),
    # commit_transaction() timed out: committed or not, nobody knows
    (KafkaError(KafkaError._TIMED_OUT, "Transactional API operation timed out", retriable=True),
     Kind.UNKNOWN),
    (KafkaError(KafkaError._TIMED_OUT), Kind.UNKNOWN),
    (KafkaError(KafkaError.CONCURRENT_TRANSACTIONS, retriable=True), Kind.UNKNOWN),
    # a record the broker can never take, an unknown topic: configuration, raised as it is
    (KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "Unable to produce message: Broker: Message size too large"),
     Kind.CONFIG),
    (KafkaError(KafkaError._UNKNOWN_TOPIC), Kind.CONFIG),
])
def test_each_error_a_transactional_call_raised_is_classified(error: KafkaError, kind: Kind) -> None:
    assert classify(error) is kind


@given(st.sampled_from(CODES), st.booleans(), st.booleans())
def test_a_fatal_error_always_gives_the_partition_up_and_an_abortable_one_is_never_raised_as_is(
        code: int, retriable: bool, abortable: bool) -> None:
    assert classify(KafkaError(code, fatal=True, retriable=retriable, txn_requires_abort=abortable)) \
        is Kind.LOST
    kind = classify(KafkaError(code, retriable=retriable, txn_requires_abort=abortable))
    if abortable:
        assert kind in (Kind.LOST, Kind.ABORT)
    if retriable:
        assert kind is not Kind.CONFIG


def raising(error: KafkaError, wrapped: bool = False) -> Callable[..., None]:
    def call(*args: object, **kwargs: object) -> None:
        if not wrapped:
            raise KafkaException(error)
        try:  # what confluent-kafka raises when a delivery callback is set
            raise KafkaException(error)
        except KafkaException as cause:
            raise SystemError("<built-in method flush> returned a result with an exception set") from cause
    return call


@pytest.fixture
def writer() -> Iterator[PartitionWriter]:
    settings = config.load().reaching("127.0.0.1:9")  # nothing listens: nothing is sent
    made = PartitionWriter(settings, 3, settings.aggregates_topic)
    made.open = True  # a transaction in progress
    yield made


def test_produce_after_a_fence_is_fenced_and_names_the_fatal_error_behind_it(
        writer: PartitionWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    writer._on_error(KafkaError(KafkaError._FENCED, "This instance has been fenced by a newer instance",
                                fatal=True))
    monkeypatch.setattr(writer._writer, "send", raising(
        KafkaError(KafkaError._FATAL, "Unable to produce message: Local: Fatal error")))
    with pytest.raises(Fenced, match="fenced by a newer instance"):
        writer.send("t", b"v", b"k", 3)
    assert not writer.open


@pytest.mark.parametrize("wrapped", [False, True])
def test_a_commit_refused_for_a_fence_or_a_timeout_abort_is_fenced(
        writer: PartitionWriter, monkeypatch: pytest.MonkeyPatch, wrapped: bool) -> None:
    monkeypatch.setattr(writer._writer, "commit_transaction", raising(
        KafkaError(KafkaError._FENCED, "Failed to end transaction", fatal=True), wrapped))
    with pytest.raises(Fenced):
        writer.commit()


def test_a_commit_that_timed_out_replaces_the_writer(
        writer: PartitionWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer._writer, "commit_transaction", raising(
        KafkaError(KafkaError._TIMED_OUT, "Transactional API operation timed out", retriable=True)))
    with pytest.raises(TransactionFailed) as failed:
        writer.commit()
    assert failed.value.fatal


def test_an_abortable_error_is_aborted_and_an_abort_that_meets_a_fence_is_fenced(
        writer: PartitionWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    aborted: list[float] = []
    monkeypatch.setattr(writer._writer, "abort_transaction", aborted.append)
    monkeypatch.setattr(writer._writer, "send", raising(KafkaError(KafkaError._STATE)))
    with pytest.raises(TransactionFailed) as failed:
        writer.send("t", b"v", b"k", 3)
    assert aborted and not failed.value.fatal
    writer.open = True
    monkeypatch.setattr(writer._writer, "abort_transaction", raising(
        KafkaError(KafkaError._FENCED, fatal=True), wrapped=True))
    with pytest.raises(Fenced):
        writer.send("t", b"v", b"k", 3)


def test_a_configuration_failure_is_raised_as_it_is(
        writer: PartitionWriter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer._writer, "send", raising(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
    with pytest.raises(KafkaException):
        writer.send("t", b"v", b"k", 3)
