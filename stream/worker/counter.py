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

from stream.config import Settings
from stream.core.order import InvalidOrder
from stream.core.partition import PartitionState
from stream.kafka.reader import BEGINNING, Consumed, Reader
from stream.kafka.writer import Writer
from stream.worker.recovery import latest_end, recover

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
        # Never joins its group: partitions are assigned by faust. A small prefetch keeps RSS flat however
        # far behind the worker is.
        self._input = Reader.open(settings, "reader", group=f"{settings.stream_group}.reader",
                                  prefetch="small")
        self._writer = Writer(settings)

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
                    batch = self._input.take(self.settings.batch_max, self.settings.batch_within_ms / 1000)
                    self._count(batch)
        except BaseException as exc:  # a broken consumer must take the worker down, not idle silently
            self.failed = exc
            log.exception("orders consumer failed")
        finally:
            self._fail_pending()
            self._writer.flush(30)
            self._input.close()

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
        start = {}
        for partition in sorted(partitions - self.reading):
            state = self.states.get(partition)
            # Memory survives a rebalance only if nobody published for the partition meanwhile.
            if state is None or latest_end(self.settings, partition) != state.ledger.end:
                started = time.monotonic()
                state = self.states[partition] = recover(self.settings, partition)
                log.info("partition %d recovered in %.2fs: input applied below offset %s, %d dedupe ids",
                         partition, time.monotonic() - started, state.ledger.end, len(state.dedupe))
            end = state.ledger.end
            start[(self.settings.orders_topic, partition)] = BEGINNING if end is None else end
        if start:
            self._input.assign(start)
            self.reading |= {partition for _, partition in start}
        log.info("counting partitions %s", sorted(self.reading))

    def _unassign(self, partitions: set[int]) -> None:
        if partitions:
            self._publish()  # whoever takes over must find every checkpoint of ours in the log
            self._input.unassign({(self.settings.orders_topic, p) for p in partitions})
            self.reading -= partitions

    def _count(self, messages: list[Consumed]) -> None:
        if not messages:
            return
        now_ms = int(time.time() * 1000)
        by_partition: dict[int, list[Consumed]] = {}
        for message in messages:
            partition = message.partition()
            run = by_partition.get(partition)
            if run is None:
                run = by_partition[partition] = []
            run.append(message)
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
                self._writer.send(self.settings.aggregates_topic, record.encode(), str(partition).encode(),
                                  partition=partition)
        # Checkpoints are pipelined: the next batch is counted while these are in flight. A failed one
        # breaks its partition's chain for every reader until the partition is rebuilt from the log.
        self._writer.poll(0)
        if self._writer.errors or len(self._writer) > 20 * self.settings.orders_partitions:
            self._publish()
        self.counted += len(messages)

    def _publish(self) -> None:
        """Wait until Kafka has acknowledged everything produced; rebuild what it refused."""
        self._writer.flush(60)
        if self._writer.errors:
            self._recover_after_failed_delivery(set(self.reading))

    def _dead_letter(self, message: Consumed, rejection: InvalidOrder) -> None:
        self._writer.send(self.settings.dlq_topic, message.value(), message.key(), headers=[
            ("reason", rejection.reason.encode()), ("detail", rejection.detail.encode()),
            ("source", f"{message.topic()}/{message.partition()}/{message.offset()}".encode()),
        ])

    def _recover_after_failed_delivery(self, partitions: set[int]) -> None:
        # Memory is ahead of the log: rebuild these partitions from what Kafka holds and re-read from there.
        log.error("publishing failed (%s); recovering partitions %s", self._writer.errors[0],
                  sorted(partitions))
        self._writer.errors.clear()
        for partition in partitions:
            state = self.states[partition] = recover(self.settings, partition)
            end = state.ledger.end
            self._input.seek((self.settings.orders_topic, partition), BEGINNING if end is None else end)

    def _fail_pending(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.done.set_exception(RuntimeError("the orders consumer stopped"))
