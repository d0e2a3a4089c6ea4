"""The app's one aggregates consumer: starts every partition from its newest snapshot, folds the checkpoints
after it, then follows the topic; and keeps a truthful answer to "is Kafka there?".

It follows partitions added to the aggregates topic while it runs, and watches every partition of `orders`
(app.coverage): one with records that no worker counts is what /healthz must report.

A record that is not a checkpoint is skipped and counted, never a reason to stop or to start over. A gap
in a partition's chain (records deleted by retention before the app read them, or a checkpoint that could
not be read) starts that partition again from its newest snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from app.coverage import Coverage, Suspect
from stream.config import Settings
from stream.core.checkpoint import Checkpoint, Unreadable
from stream.core.salesview import SalesView
from stream.kafka.reader import BEGINNING, Consumed, Reader, read_range
from stream.store import read_snapshots, start_from_snapshots

log = logging.getLogger("salesdash.app")
PROBE_EVERY_S = 3.0  # how often the broker is asked for metadata: the health answer is this fresh
REACHABLE_WITHIN_MS = 10_000  # no answer for this long and Kafka counts as gone
POLL_S = 0.05  # the longest a poll waits, so the loop notices shutdown
BATCH = 2000
# Retry a lost broker at least every second (librdkafka backs off up to 10 s): a returning one is seen,
# and reported healthy, at once.
RECONNECT: dict[str, Any] = {"reconnect.backoff.max.ms": 1000}
RELOAD_EVERY_S = 10.0  # a partition with a gap asks for a newer snapshot at most this often


class Feed(Protocol):
    """What the routes need of the aggregates consumer: an AggregatesFeed, or a fake in tests."""

    caught_up: asyncio.Event
    lag: int
    unreadable: int
    coverage: Coverage

    def reachable(self) -> bool: ...
    async def run(self) -> None: ...


class AggregatesFeed:
    def __init__(self, settings: Settings, view: SalesView) -> None:
        self.settings = settings
        self.view = view
        self.caught_up = asyncio.Event()  # every partition, as of start-up, is folded in
        self.lag = 0  # records on the broker not read yet, over all partitions
        self.unreadable = 0  # records of the aggregates and snapshot topics that could not be read
        self._answered_ms = 0  # when the broker last answered: a metadata request, or records fetched
        self._next: dict[int, int] = {}  # partition -> next offset to read
        self._gaps: dict[int, float] = {}  # partition -> when it last asked for a newer snapshot
        self._started = False
        self._partitions = 0  # how many partitions of the aggregates topic are followed: known once started
        self._grown_to = 0  # how many the broker last said it has
        self.coverage = Coverage(settings.session_timeout_s)
        # Private reader: every app process folds the whole topic; it never commits offsets.
        self._reader = Reader.open(settings, "app", prefetch="small", **RECONNECT)

    async def run(self) -> None:
        """Follow the topic for the life of the app; a Kafka error is logged and the read resumes where
        it was."""
        probe = asyncio.create_task(self._probe())
        try:
            while True:
                try:
                    await self._follow()
                except Exception as exc:  # KafkaException and friends: the app must outlive them
                    log.error("aggregates consumer failed, retrying in 1s: %s", exc)
                    await asyncio.sleep(1.0)
        finally:
            probe.cancel()
            await asyncio.to_thread(self._reader.close)

    def _answered(self) -> None:
        self._answered_ms = int(time.time() * 1000)

    def reachable(self) -> bool:
        return int(time.time() * 1000) - self._answered_ms < REACHABLE_WITHIN_MS

    async def _probe(self) -> None:
        # Polling returns nothing while the broker is down, exactly as while nothing is written: only
        # an answered request says the broker is there.
        while True:
            try:
                await asyncio.to_thread(self._reader.topics, PROBE_EVERY_S)
                self._answered()
            except Exception as exc:
                log.warning("Kafka at %s does not answer: %s", self.settings.bootstrap, exc)
            else:
                try:
                    await self._cover()
                except Exception as exc:  # the next probe asks again
                    log.warning("cannot read the watermarks of %s: %s", self.settings.orders_topic, exc)
            await asyncio.sleep(PROBE_EVERY_S)

    async def _follow(self) -> None:
        if not self._started:
            await self._start()
        while True:
            messages = await asyncio.to_thread(self._take)
            if messages:
                self._answered()  # records fetched: the broker answers (no flicker while the probe waits)
            for message in messages:
                self._fold(message)
            for partition in list(self._gaps):
                await self._reload(partition)
            if self._started and self._grown_to > self._partitions:
                await self._follow_grown()
            if messages:
                self.view.close_days(self._partitions)
            self.lag = self._lag()
            if not self.caught_up.is_set() and self._reader.following <= self._reader.reached_end:
                self.caught_up.set()

    async def _start(self) -> None:
        topic = self.settings.aggregates_topic
        while True:
            partitions = await asyncio.to_thread(self._reader.partitions, topic)
            if partitions:
                self._answered()  # so the first viewers are not told Kafka is down before the first probe
                break
            log.info("waiting for topic %s (start the worker: python -m stream)", topic)
            await asyncio.sleep(1.0)
        found, unreadable = await asyncio.to_thread(read_snapshots, self.settings, partitions, False,
                                                     None, True)
        self.unreadable += unreadable
        self._partitions = len(partitions)
        # The same start as stream.store.load_view (the audit's view): in the loop, where the view is read.
        starts = start_from_snapshots(self.view, partitions, found)
        self._reader.assign({(topic, partition): start for partition, start in starts.items()})
        self._started = True
        log.info("folding %s from %d snapshots", topic, len(found))

    async def _cover(self) -> None:
        marks, self._grown_to = await asyncio.to_thread(self._look)
        now = time.monotonic()
        self.coverage.observe(now, marks, {p: ledger.end for p, ledger in self.view.ledgers.items()})
        for suspect in self.coverage.suspects(now):
            if await asyncio.to_thread(self._holds_record, suspect):
                self.coverage.confirm(suspect)
            else:
                self.coverage.settle(suspect)

    def _look(self) -> tuple[dict[int, tuple[int, int]], int]:
        """The watermarks of every partition of `orders` the broker reports, and how many partitions the
        aggregates topic has."""
        orders = self.settings.orders_topic
        marks = {p: self._reader.watermarks((orders, p), PROBE_EVERY_S)
                 for p in self._reader.partitions(orders, PROBE_EVERY_S)}
        return marks, len(self._reader.partitions(self.settings.aggregates_topic, PROBE_EVERY_S))

    def _holds_record(self, suspect: Suspect) -> bool:
        # One record is enough; leaving the loop drops the generator, which closes its reader.
        for _ in read_range(self.settings, self.settings.orders_topic, suspect.partition, suspect.start,
                            suspect.stop):
            return True
        return False

    async def _follow_grown(self) -> None:
        # A partition added to the aggregates topic has no snapshot yet: its chain is read from the start.
        topic, grown = self.settings.aggregates_topic, range(self._partitions, self._grown_to)
        await asyncio.to_thread(self._reader.assign, {(topic, p): BEGINNING for p in grown})
        self._partitions = self._grown_to
        log.info("following %s partitions %s too (the topic grew)", topic, list(grown))

    def _fold(self, message: Consumed) -> None:
        partition = message.partition()
        self._next[partition] = message.offset() + 1
        try:
            checkpoint = Checkpoint.decode(message.value())
            accepted = self.view.accept(checkpoint)
        except Unreadable as exc:
            self.unreadable += 1
            log.warning("skipping an unreadable record at %s/%s: %s", self.settings.aggregates_topic,
                        partition, exc)
            return
        except Exception as exc:  # a last line of defence: a record that breaks folding is skipped
            self.unreadable += 1
            log.exception("skipping a record at %s/%s that could not be folded: %r",
                          self.settings.aggregates_topic, partition, exc)
            return
        ledger = self.view.ledgers.get(partition)
        if not accepted and ledger is not None and ledger.end is not None and checkpoint.start > ledger.end:
            self._gaps.setdefault(partition, 0.0)  # records are missing: start again from a snapshot

    async def _reload(self, partition: int) -> None:
        if time.monotonic() - self._gaps[partition] < RELOAD_EVERY_S:
            return
        self._gaps[partition] = time.monotonic()
        found, unreadable = await asyncio.to_thread(read_snapshots, self.settings, [partition], False,
                                                     None, True)
        self.unreadable += unreadable
        snapshot = found.get(partition)
        ledger = self.view.ledgers.get(partition)
        if snapshot is None or (ledger is not None and ledger.end is not None and
                                snapshot.state.end <= ledger.end):
            log.warning("partition %d: its checkpoint chain has a gap and no newer snapshot yet; waiting",
                        partition)
            return
        self.view.load(snapshot)
        self._reader.seek((self.settings.aggregates_topic, partition), max(0, snapshot.state.aggregates_from))
        del self._gaps[partition]
        log.info("partition %d started again from its snapshot at input offset %d", partition,
                 snapshot.state.end)

    def _take(self) -> list[Consumed]:
        # Eager: a checkpoint is folded as soon as it arrives, not held for the rest of the poll.
        return self._reader.take(BATCH, POLL_S, eager=True)

    def _lag(self) -> int:
        # Cached watermarks come with every fetch response: no request to the broker.
        lag = 0
        for key in self._reader.following:
            low, high = self._reader.cached_watermarks(key)
            if high >= 0:
                # A transaction's commit marker takes an offset no record has: past it is the end seen.
                read = max(self._next.get(key[1], max(low, 0)), self._reader.end_offsets.get(key, 0))
                lag += max(0, high - read)
        return lag
