"""The counting loop: reads the input partitions this worker owns, counts them, publishes checkpoints.

It runs in its own thread with a plain confluent-kafka consumer (manually assigned, positioned at each
partition's checkpointed `end`) and producer, so the hot path costs a few microseconds an event instead of
faust's per-message pipeline; faust decides *which* partitions this worker owns (see stream/worker.py).
Ownership changes arrive as commands and are applied only between batches, so a batch is always
published in full before a partition is handed over.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from stream.config import Settings
from stream.kafka import client_config
from stream.orders import InvalidOrder
from stream.partition import PartitionState
from stream.recovery import latest_end, recover

log = logging.getLogger("salesdash.stream")


@dataclass
class _Command:
    kind: str  # "pause": stop reading these partitions; "own": the full set this worker now owns
    partitions: set[int]
    done: Future[None] = field(default_factory=Future)


class OrdersConsumer(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="orders-consumer", daemon=True)
        self.settings = settings
        self.states: dict[int, PartitionState] = {}
        self.reading: set[int] = set()
        self.counted = 0
        self.failed: BaseException | None = None
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._stop_event = threading.Event()
        self._delivery_errors: list[str] = []
        self._consumer = Consumer(client_config(settings, **{
            "group.id": f"{settings.stream_group}.reader",  # never joins: partitions are assigned by faust
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            # Prefetch is small and bounded, so RSS stays flat however far behind the worker is; a full
            # queue pauses fetching for fetch.queue.backoff.ms (default 1 s: the worker then starved half
            # the time), so it resumes almost at once.
            "fetch.max.bytes": 8_388_608,
            "max.partition.fetch.bytes": 1_048_576,
            "queued.max.messages.kbytes": 4_096,
            "fetch.queue.backoff.ms": 20,
        }))
        self._producer = Producer(client_config(settings, **{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": 8_388_608,
        }))

    # -- called from faust's event loop -------------------------------------------------------------

    def pause(self, partitions: set[int]) -> Future[None]:
        return self._submit(_Command("pause", partitions))

    def own(self, partitions: set[int]) -> Future[None]:
        return self._submit(_Command("own", partitions))

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_event.set()
        if self.ident is not None:
            self.join(timeout)

    def _submit(self, command: _Command) -> Future[None]:
        if self.failed is not None or self._stop_event.is_set():
            command.done.set_exception(RuntimeError("the orders consumer is not running"))
            return command.done
        if self.ident is None:
            self.start()  # faust's first rebalance callback may come before its startup tasks run
        self._commands.put(command)
        return command.done

    # -- the thread ---------------------------------------------------------------------------------

    def run(self) -> None:
        # Counting allocates millions of short-lived objects and no cycles; the default thresholds walk
        # faust's start-up objects and the growing state again and again: freeze those, collect rarely.
        gc.freeze()
        gc.set_threshold(100_000, 50, 100)
        try:
            while not self._stop_event.is_set():
                self._handle_commands(block=not self.reading)
                if self.reading:
                    self._count(self._consumer.consume(self.settings.batch_max,
                                                       self.settings.batch_within_ms / 1000))
        except BaseException as exc:  # a broken consumer must take the worker down, not idle silently
            self.failed = exc
            log.exception("orders consumer failed")
        finally:
            self._fail_pending()
            self._producer.flush(30)
            self._consumer.close()

    def _handle_commands(self, block: bool) -> None:
        while True:
            try:
                command = self._commands.get(timeout=0.2) if block else self._commands.get_nowait()
            except queue.Empty:
                return
            block = False
            try:
                if command.kind == "pause":
                    self._unassign(command.partitions & self.reading)
                else:
                    self._own(command.partitions)
                command.done.set_result(None)
            except BaseException as exc:
                command.done.set_exception(exc)
                raise

    def _own(self, partitions: set[int]) -> None:
        for partition in set(self.states) - partitions:
            del self.states[partition]  # someone else counts it now
        self._unassign(self.reading - partitions)
        start = []
        for partition in sorted(partitions - self.reading):
            state = self.states.get(partition)
            # Memory survives a rebalance only if nobody published for the partition meanwhile.
            if state is None or latest_end(self.settings, partition) != state.ledger.end:
                started = time.monotonic()
                state = self.states[partition] = recover(self.settings, partition)
                log.info("partition %d recovered in %.2fs: input applied below offset %s, %d dedupe ids",
                         partition, time.monotonic() - started, state.ledger.end, len(state.dedupe))
            end = state.ledger.end
            start.append(TopicPartition(self.settings.orders_topic, partition,
                                        OFFSET_BEGINNING if end is None else end))
        if start:
            self._consumer.incremental_assign(start)
            self.reading |= {tp.partition for tp in start}
        log.info("counting partitions %s", sorted(self.reading))

    def _unassign(self, partitions: set[int]) -> None:
        if partitions:
            self._publish()  # whoever takes over must find every checkpoint of ours in the log
            self._consumer.incremental_unassign(
                [TopicPartition(self.settings.orders_topic, p) for p in partitions])
            self.reading -= partitions

    def _count(self, messages: list[Message]) -> None:
        if not messages:
            return
        now_ms = int(time.time() * 1000)
        by_partition: dict[int, list[Message]] = {}
        for message in messages:
            if message.error() is None:
                partition = message.partition()
                run = by_partition.get(partition)
                if run is None:
                    run = by_partition[partition] = []
                run.append(message)
            elif message.error().code() != KafkaError._PARTITION_EOF:
                log.warning("reading %s: %s", self.settings.orders_topic, message.error())
        touched: dict[int, PartitionState] = {}
        for partition, run in by_partition.items():
            state = self.states.get(partition)
            if state is None or partition not in self.reading:
                continue  # fetched just before the partition was handed over: its owner reads it
            touched[partition] = state
            for message, rejection in state.apply_batch(run, now_ms):
                self._dead_letter(message, rejection)
        for partition, state in touched.items():
            record = state.checkpoint(now_ms)
            if record is not None:
                self._produce(self.settings.aggregates_topic, record.encode(), str(partition).encode(),
                              partition=partition)
        # Checkpoints are pipelined: the next batch is counted while these are in flight. A failed one
        # breaks its partition's chain for every reader until the partition is rebuilt from the log.
        self._producer.poll(0)
        if self._delivery_errors or len(self._producer) > 20 * self.settings.orders_partitions:
            self._publish()
        self.counted += len(messages)

    def _publish(self) -> None:
        """Wait until Kafka has acknowledged everything produced; rebuild what it refused."""
        self._producer.flush(60)
        if self._delivery_errors:
            self._recover_after_failed_delivery(set(self.reading))

    def _dead_letter(self, message: Message, rejection: InvalidOrder) -> None:
        self._produce(self.settings.dlq_topic, message.value(), message.key(), headers=[
            ("reason", rejection.reason.encode()), ("detail", rejection.detail.encode()),
            ("source", f"{message.topic()}/{message.partition()}/{message.offset()}".encode()),
        ])

    def _produce(self, topic: str, value: bytes | None, key: bytes | None, **kwargs: Any) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._delivered, **kwargs)
                return
            except BufferError:
                self._producer.poll(0.05)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_errors.append(f"{message.topic()}: {error}")

    def _recover_after_failed_delivery(self, partitions: set[int]) -> None:
        # Memory is ahead of the log: rebuild these partitions from what Kafka holds and re-read from there.
        log.error("publishing failed (%s); recovering partitions %s",
                  self._delivery_errors[0], sorted(partitions))
        self._delivery_errors.clear()
        for partition in partitions:
            state = self.states[partition] = recover(self.settings, partition)
            end = state.ledger.end
            self._consumer.seek(TopicPartition(self.settings.orders_topic, partition,
                                               OFFSET_BEGINNING if end is None else end))

    def _fail_pending(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.done.set_exception(RuntimeError("the orders consumer stopped"))
