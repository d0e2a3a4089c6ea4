"""The app's one aggregates consumer: reads every checkpoint from the beginning, then follows the topic."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from stream.config import Settings
from stream.core.salesview import SalesView
from stream.kafka.reader import BEGINNING, Consumed, Reader

log = logging.getLogger("salesdash.app")
REACHABLE_WITHIN_MS = 10_000
POLL_S = 0.05  # the longest a poll waits, so the loop notices shutdown and keeps `reachable` fresh
BATCH = 2000


class Feed(Protocol):
    """What the routes need of the aggregates consumer: an AggregatesFeed, or a fake in tests."""

    caught_up: asyncio.Event
    lag: int

    def reachable(self) -> bool: ...
    async def run(self) -> None: ...


class AggregatesFeed:
    def __init__(self, settings: Settings, view: SalesView) -> None:
        self.settings = settings
        self.view = view
        self.caught_up = asyncio.Event()  # the whole log, as of start-up, is folded in
        self.kafka_ok = False
        self.last_poll_ms = 0
        self.lag = 0  # records on the broker not read yet, over all partitions
        self._next: dict[int, int] = {}  # partition -> next offset to read
        # Private reader: every app process folds the whole topic; it never commits offsets.
        self._reader = Reader.open(settings, "app", prefetch="small")

    async def run(self) -> None:
        """Follow the topic for the life of the app; a Kafka error is logged and the read resumes."""
        try:
            while True:
                try:
                    await self._follow()
                except Exception as exc:  # KafkaException and friends: the app must outlive them
                    self.kafka_ok = False
                    log.error("aggregates consumer failed, retrying in 1s: %s", exc)
                    await asyncio.sleep(1.0)
        finally:
            await asyncio.to_thread(self._reader.close)

    async def _follow(self) -> None:
        await self._assign()
        ends = await asyncio.to_thread(self._high_watermarks)
        while True:
            messages = await asyncio.to_thread(self._take)
            self.last_poll_ms = int(time.time() * 1000)
            self.kafka_ok = True
            for message in messages:
                self._next[message.partition()] = message.offset() + 1
                value = message.value()
                if value is not None:
                    try:
                        self.view.apply(value)
                    except (ValueError, KeyError, TypeError) as exc:
                        log.error("skipping unreadable checkpoint at %s/%s: %s",
                                  message.partition(), message.offset(), exc)
                end = ends.get(message.partition())
                if end is not None and message.offset() + 1 >= end:
                    del ends[message.partition()]
            self.lag = self._lag()
            if not self.caught_up.is_set() and not ends:
                self.caught_up.set()

    def _take(self) -> list[Consumed]:
        # Eager: a checkpoint is folded as soon as it arrives, not held for the rest of the poll.
        return self._reader.take(BATCH, POLL_S, eager=True)

    def reachable(self) -> bool:
        return self.kafka_ok and int(time.time() * 1000) - self.last_poll_ms < REACHABLE_WITHIN_MS

    def _lag(self) -> int:
        # Cached watermarks come with every fetch response: no request to the broker.
        lag = 0
        for key in self._reader.following:
            low, high = self._reader.cached_watermarks(key)
            if high >= 0:
                lag += max(0, high - self._next.get(key[1], max(low, 0)))
        return lag

    async def _assign(self) -> None:
        topic = self.settings.aggregates_topic
        while not self._reader.following:  # once assigned, a retry carries on where it was
            partitions = await asyncio.to_thread(self._reader.partitions, topic)
            if partitions:
                self._reader.assign({(topic, p): BEGINNING for p in partitions})
                break
            log.info("waiting for topic %s (start the worker: python -m stream)", topic)
            await asyncio.sleep(1.0)

    def _high_watermarks(self) -> dict[int, int]:
        ends = {}
        for key in self._reader.following:
            low, high = self._reader.watermarks(key)
            if high > low:
                ends[key[1]] = high
        return ends
