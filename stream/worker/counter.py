"""The counting loop: reads the input partitions this worker owns, counts them, publishes checkpoints.

It runs in its own thread with a plain confluent-kafka consumer (manually assigned, positioned at each
partition's published end), so the hot path costs a few microseconds an event instead of faust's
per-message pipeline; faust decides *which* partitions this worker owns (stream/worker/membership.py).

- Ownership changes arrive as commands and are applied between batches. Taking a partition over runs in
  a pool, all partitions at once, while the others go on counting; a revoke is answered at once.
- Each partition has its own transactional writer (stream/kafka/transactions.py): a checkpoint, the dead
  letters and reroutes of its range and, now and then, a snapshot commit together. Commits run in the
  background while the next batch is counted; a partition waits for its own previous commit only.
- A writer that can never commit again (fenced by a newer owner, its transaction aborted by the broker's
  timeout, a fatal error) gives its partition up, as Kafka Streams' "task migrated": the worker stays up
  and a member, and takes the partition again (a fresh writer, recovered from the log) if the group still
  assigns it here a few heartbeats later, or when a rebalance gives it back. A failed transaction rebuilds
  the partition from the log. Bad data never stops counting: it goes to the dead letters.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from stream.config import Settings
from stream.core.partition import PoisonRecord
from stream.core.routing import Homes
from stream.kafka.reader import BEGINNING, Consumed, Reader
from stream.kafka.transactions import Fenced, TransactionFailed
from stream.worker.idle import followed, is_idle
from stream.worker.ownership import (
    Action,
    CancelClaim,
    Claim,
    ClosePark,
    LetGo,
    Ownership,
    Rebuild,
    Retake,
    StartReading,
    StopReading,
)
from stream.worker.peers import Peers
from stream.worker.recovery import Cancelled, Owned, recover
from stream.worker.recovery import Claim as Recovery

log = logging.getLogger("salesdash.stream")
MAX_DEAD_LETTER_BYTES = 1_048_576  # a value larger than this is cut: the dead letter must always fit
MAX_DETAIL = 1_000


@dataclass
class _Command:
    kind: str  # "pause": stop reading these partitions; "own": the full set this worker now owns
    partitions: set[int]
    done: Future[None] = field(default_factory=Future)


class OrdersConsumer(threading.Thread):
    def __init__(self, settings: Settings, hold_first_publish: Path | None = None) -> None:
        super().__init__(name="orders-consumer", daemon=True)
        self.settings = settings
        self.owned: dict[int, Owned] = {}  # the counted partitions' state and writer
        self.counted = 0
        self.fenced = 0  # partitions given up because their writer could never commit again
        self.failed: BaseException | None = None
        self._homes = Homes(settings.orders_partitions)
        self._ownership = Ownership()  # decides what is claimed, counted, parked, given up
        self._claims: dict[int, tuple[Recovery, Future[Owned]]] = {}
        self._parked: dict[int, Owned] = {}  # let go in a rebalance: kept in case it comes back
        self._commands: queue.Queue[_Command] = queue.Queue()
        self._stop_event = threading.Event()
        self._recoveries = ThreadPoolExecutor(settings.orders_partitions, thread_name_prefix="recovery")
        self._commits = ThreadPoolExecutor(settings.orders_partitions, thread_name_prefix="commit")
        self._pending_commits: dict[int, Future[None]] = {}
        # Never joins its group: partitions are assigned by faust. A small prefetch keeps RSS flat however
        # far behind the worker is.
        self._input = Reader.open(settings, "reader", group=f"{settings.stream_group}.reader",
                                  prefetch="small")
        self._peers = Peers(settings)  # the other workers' busy partitions, for idle ones to follow
        # A test hook (`python -m stream --hold-first-publish PATH`): forces a zombie's race, see README.
        self._hold_first_publish = hold_first_publish

    # -- called from faust's event loop -------------------------------------------------------------

    def pause(self, partitions: set[int]) -> Future[None]:
        return self._submit(_Command("pause", partitions))

    def own(self, partitions: set[int]) -> Future[None]:
        return self._submit(_Command("own", partitions))

    @property
    def reading(self) -> set[int]:
        return self._ownership.counted

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
        self._peers.start()
        try:
            while not self._stop_event.is_set():
                self._handle_commands(block=not self.reading, timeout=0.02 if self._claims else 0.2)
                self._adopt_recovered()
                self._act(self._ownership.tick(time.monotonic()))
                if self.reading:
                    batch = self._input.take(self.settings.batch_max, self.settings.batch_within_ms / 1000)
                    self._count(batch)
                self._publish_due()
                self._follow_idle()
            self._act(self._ownership.stopping())
        except BaseException as exc:  # a broken consumer must take the worker down, not idle silently
            self.failed = exc
            log.exception("orders consumer failed")
        finally:
            self._fail_pending()
            for claim, _ in self._claims.values():
                claim.cancel()
            self._recoveries.shutdown(wait=False, cancel_futures=True)
            self._commits.shutdown(wait=True)
            self._input.close()
            self._peers.stop()

    def _handle_commands(self, block: bool, timeout: float) -> None:
        while True:
            try:
                command = self._commands.get(timeout=timeout) if block else self._commands.get_nowait()
            except queue.Empty:
                return
            block = False
            try:
                if command.kind == "pause":
                    self._act(self._ownership.revoked(command.partitions))
                else:
                    self._act(self._ownership.assigned_now(command.partitions))
                    log.info("owning partitions %s (recovering %s)", sorted(command.partitions),
                             sorted(self._claims))
                command.done.set_result(None)
            except BaseException as exc:
                command.done.set_exception(exc)
                raise

    def _act(self, actions: list[Action]) -> None:
        """Carry out what the ownership machine decided, in its order."""
        for action in actions:
            if isinstance(action, Claim):
                self._claim(action.partition, self._parked.pop(action.partition, None)
                            if action.from_parked else None)
            elif isinstance(action, Retake):
                log.warning("partition %d is still assigned here: taking it again with a fresh writer",
                            action.partition)
                self._claim(action.partition, None)
            elif isinstance(action, Rebuild):
                # The caller carries on from the rebuilt state; a claim that failed is retried like any other.
                wait([self._claim(action.partition, None)])
                self._adopt_recovered()
            elif isinstance(action, CancelClaim):
                self._cancel(action.partition)
            elif isinstance(action, LetGo):
                self._let_go(action)
            elif isinstance(action, ClosePark):
                self._parked.pop(action.partition).writer.close()
            elif isinstance(action, StartReading):
                self._start_reading(action.partition)
            elif isinstance(action, StopReading):
                self._stop_reading(action.partition)

    def _claim(self, partition: int, parked: Owned | None) -> Future[Owned]:
        claim = Recovery(partition)
        future = self._recoveries.submit(recover, self.settings, claim, self._homes, parked)
        self._claims[partition] = (claim, future)
        return future

    def _cancel(self, partition: int) -> None:
        claim, future = self._claims.pop(partition)
        claim.cancel()  # answered at once: a claim in progress finishes first, no later one starts
        future.add_done_callback(_close_result)

    def _adopt_recovered(self) -> None:
        for partition, (_, future) in list(self._claims.items()):
            if not future.done():
                continue
            del self._claims[partition]
            try:
                owned = future.result()
            except Cancelled:
                self._act(self._ownership.recovery_cancelled(partition))
                continue
            except Exception as exc:  # the broker went away meanwhile: try again
                log.error("recovering partition %d failed (%s); retrying", partition, exc)
                self._act(self._ownership.recovery_failed(partition))
                continue
            actions = self._ownership.recovered(partition)
            if not actions:  # cancelled meanwhile: nobody counts with its writer
                owned.writer.close()
                continue
            self.owned[partition] = owned
            self._act(actions)

    def _start_reading(self, partition: int) -> None:
        owned = self.owned[partition]
        owned.quiet_since = time.monotonic()
        end = owned.state.end
        self._input.assign({(self.settings.orders_topic, partition): BEGINNING if end is None else end})
        log.info("counting partitions %s", sorted(self.reading))

    def _stop_reading(self, partition: int) -> None:
        owned = self.owned.pop(partition, None)
        if owned is not None:
            owned.writer.close()
        self._input.unassign({(self.settings.orders_topic, partition)})

    def _let_go(self, action: LetGo) -> None:
        """Publish what is pending (and a snapshot, so the next owner starts where this one stops), then
        stop reading: whoever takes over finds every record of ours in the log."""
        leaving = {p: self.owned[p] for p in action.partitions}
        failed: dict[int, Exception] = {}
        for partition, owned in leaving.items():  # every commit is started before any is waited for
            try:
                self._publish(partition, owned, snapshot=True)
            except Exception as exc:
                failed[partition] = exc
        for partition, owned in leaving.items():
            try:
                if partition in failed:
                    raise failed[partition]
                self._wait_commit(partition)
                if action.park:
                    self._parked[partition] = owned
                else:
                    owned.writer.close()
                self._act(self._ownership.let_go_done(partition, ok=True))
            except Exception as exc:  # fenced, aborted, or Kafka out of reach: the next owner counts them
                log.warning("partition %d: its last records were not published (%s); its next owner counts "
                            "them", partition, exc)
                owned.writer.close()
                self._act(self._ownership.let_go_done(partition, ok=False))
            self.owned.pop(partition, None)
        if leaving:
            self._input.unassign({(self.settings.orders_topic, p) for p in leaving})

    # -- counting -----------------------------------------------------------------------------------

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
        for partition, run in by_partition.items():
            owned = self.owned.get(partition)
            if owned is None or partition not in self.reading:
                continue  # fetched just before the partition was handed over: its owner reads it
            counted = owned.state.counted
            try:
                applied = owned.state.apply_batch(run, now_ms)
            except PoisonRecord as poison:
                self._poisoned(partition, owned, poison, run)
                continue
            if owned.state.counted > counted:
                owned.quiet_since = time.monotonic()  # junk, copies and reroutes do not keep it busy
            if owned.range_since is None:
                owned.range_since = time.monotonic()
            try:
                for message, rejection in applied.rejected:
                    self._dead_letter(owned, message, rejection.reason, rejection.detail)
                for message, home, merchant in applied.rerouted:
                    self._reroute(owned, message, home, merchant)
            except (Fenced, TransactionFailed) as exc:
                self._failed(partition, exc)
        self.counted += len(messages)

    def _dead_letter(self, owned: Owned, message: Consumed, reason: str, detail: str) -> None:
        self._wait_commit(owned.state.partition)
        value = message.value()
        headers = [("reason", reason.encode()), ("detail", detail[:MAX_DETAIL].encode()),
                   ("source", f"{message.topic()}/{message.partition()}/{message.offset()}".encode())]
        if value is not None and len(value) > MAX_DEAD_LETTER_BYTES:
            cut = f"{len(value)} bytes, the first {MAX_DEAD_LETTER_BYTES} kept"
            headers.append(("truncated", cut.encode()))
            value = value[:MAX_DEAD_LETTER_BYTES]
        owned.writer.send(self.settings.dlq_topic, value, message.key(), message.partition(), headers=headers)

    def _reroute(self, owned: Owned, message: Consumed, home: int, merchant: str) -> None:
        # The copy lands where its merchant counts, keyed by it, with the order's own time: in the same
        # transaction as the checkpoint that passes over the original, so it is copied exactly once.
        self._wait_commit(owned.state.partition)
        origin = f"{message.topic()}/{message.partition()}/{message.offset()}".encode()
        owned.writer.send(self.settings.orders_topic, message.value(), merchant.encode(), home,
                          timestamp=message.timestamp()[1], headers=[("rerouted_from", origin)])

    def _poisoned(self, partition: int, owned: Owned, poison: PoisonRecord, run: list[Consumed]) -> None:
        """A record broke counting half way: rebuild the partition from the log, pass the record over
        (a checkpoint names it, so a recount passes it over too) and dead-letter it."""
        log.error("partition %d: %s; rebuilding it and passing the record over", partition, poison)
        record = next(m for m in run if m.offset() == poison.offset)
        self._act(self._ownership.rebuild(partition))
        rebuilt = self.owned.get(partition)
        if rebuilt is not None:
            rebuilt.state.skip.add(poison.offset)
            try:
                self._dead_letter(rebuilt, record, "internal_error", f"counting raised {poison.cause!r}")
            except (Fenced, TransactionFailed) as exc:
                self._failed(partition, exc)

    # -- publishing ---------------------------------------------------------------------------------

    def _publish_due(self) -> None:
        now = time.monotonic()
        for partition, owned in list(self.owned.items()):
            pending = self._pending_commits.get(partition)
            if pending is not None and not pending.done():
                continue  # its last commit is in flight: the next checkpoint takes more records; never wait
            state = owned.state
            records_due = state.pending >= self.settings.checkpoint_records
            time_due = owned.range_since is not None and \
                now - owned.range_since >= self.settings.checkpoint_ms / 1000
            idle_due = state.idle_changes and now - owned.published_at >= \
                self.settings.rules.sketch_every_ms / 1000
            # A partition gone quiet still gets its snapshot: a chain whose tail retention deletes before
            # the next snapshot leaves a reader that starts later nothing to continue from.
            snapshot_due = state.since_snapshot > 0 and \
                now - owned.snapshot_at >= self.settings.snapshot_every_s
            if records_due or time_due or idle_due or snapshot_due or not owned.snapshotted:
                try:
                    self._publish(partition, owned, snapshot=False)
                except (Fenced, TransactionFailed) as exc:
                    self._failed(partition, exc)

    def _follow_idle(self) -> None:
        """Move every idle partition's watermark to the one it follows (stream/worker/idle.py), as a step
        of its own published at once (after what is pending): a recount applies it at the same place."""
        now = time.monotonic()
        ends = {p: self._caught_up(p) for p in self.owned if p in self.reading}
        idle = {p for p, end in ends.items() if end is not None and is_idle(now - self.owned[p].quiet_since,
                                                                            self.settings.idle_s)}
        mine = set(self.owned)  # the other workers' partitions: the busy ones, and all when none is
        target = followed({p: self.owned[p].state.watermark for p in ends}, idle, self._peers.busy(mine),
                          self._peers.known(mine))
        if target is None:
            return
        every = max(1.0, self.settings.checkpoint_ms / 1000)  # a step a second at most while the others move
        for partition in sorted(idle):
            owned = self.owned[partition]
            pending = self._pending_commits.get(partition)
            if (pending is not None and not pending.done()) or now - owned.followed_at < every or \
                    target <= owned.state.watermark:
                continue
            try:
                if owned.state.pending:  # junk or reroutes counted since the last checkpoint go first
                    self._publish(partition, owned, snapshot=False)
                owned.state.follow(target, at=ends[partition])  # where the log ends: a partition never read
                owned.followed_at = now
                self._publish(partition, owned, snapshot=False)
            except (Fenced, TransactionFailed) as exc:
                self._failed(partition, exc)

    def _caught_up(self, partition: int) -> int | None:
        """Where the partition's log ends if everything before it is read and applied; else None. At the
        end the reader's position may pass the last record: reroutes written into it commit with a marker."""
        key = (self.settings.orders_topic, partition)
        _, high = self._input.cached_watermarks(key)
        applied = self.owned[partition].state.end or 0
        if high >= 0 and (applied >= high or self._input.end_offsets.get(key) == high):
            return high
        return None

    def _publish(self, partition: int, owned: Owned, snapshot: bool) -> None:
        state, writer = owned.state, owned.writer
        now_ms = int(time.time() * 1000)
        self._wait_commit(partition)
        record = state.checkpoint(now_ms, force=True)
        due = snapshot or not owned.snapshotted or state.since_snapshot >= self.settings.snapshot_records or \
            time.monotonic() - owned.snapshot_at >= self.settings.snapshot_every_s
        # A snapshot only of a state that has anything new (or has none yet): a quiet partition costs nothing.
        take = due and state.end is not None and (record is not None or state.since_snapshot > 0
                                                  or not owned.snapshotted)
        if record is None and not take and not writer.open:
            return
        if owned.first_publish:
            self._hold_for_test(partition)
            owned.first_publish = False
        if record is not None:
            for part in record.parts():  # each under the core's record budget, all in this transaction
                writer.send(self.settings.aggregates_topic, part, str(partition).encode(), partition)
        if take:
            start = writer.checkpoint_offset + 1 if writer.checkpoint_offset >= 0 else BEGINNING
            heads, tables = state.snapshot(now_ms, start)
            for key, value in tables:
                writer.send(self.settings.state_topic, value, key, partition)
            for key, value in heads:
                writer.send(self.settings.snapshots_topic, value, key, partition)
            owned.snapshotted = True
            owned.snapshot_at = time.monotonic()
        owned.range_since = None
        owned.published_at = time.monotonic()
        self._pending_commits[partition] = self._commits.submit(writer.commit)

    def _wait_commit(self, partition: int) -> None:
        """Wait for the partition's previous commit: its outcome must be known before the next write."""
        pending = self._pending_commits.pop(partition, None)
        if pending is not None:
            pending.result()  # raises Fenced or TransactionFailed

    def _failed(self, partition: int, error: Exception) -> None:
        self._pending_commits.pop(partition, None)
        if isinstance(error, Fenced):
            # A newer owner may hold it (this worker was cut off: paused, stalled, partitioned away), or the
            # broker aborted a transaction that outlived its timeout. Nothing of the writer was committed.
            self.fenced += 1
            log.warning("partition %d: its writer can never commit again (%s); giving the partition up, "
                        "to take it again if the group still assigns it here", partition, error)
            self._act(self._ownership.fenced(partition, time.monotonic()))
            return
        log.error("publishing partition %d failed (%s); rebuilding it from the log", partition, error)
        self._act(self._ownership.rebuild(partition))

    def _hold_for_test(self, partition: int) -> None:
        # Only with STREAM_TEST_HOLD_FIRST_PUBLISH: a successor's first publish waits until a test lets it,
        # so the test can have a fenced predecessor try to write first.
        if self._hold_first_publish is None:
            return
        log.info("partition %d: holding the first publish until %s exists", partition,
                 self._hold_first_publish)
        deadline = time.monotonic() + 120
        while not self._hold_first_publish.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _fail_pending(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.done.set_exception(RuntimeError("the orders consumer stopped"))



def _close_result(future: Future[Owned]) -> None:
    """A cancelled claim that still finished holds a writer nobody counts with: let it go."""
    if not future.cancelled() and future.exception() is None:
        future.result().writer.close()
