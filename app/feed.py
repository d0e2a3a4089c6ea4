"""The app's one aggregates consumer: reads every checkpoint from the beginning, then follows the topic."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from app.view import SalesView
from stream.config import Settings
from stream.kafka import client_config

log = logging.getLogger("salesdash.app")
REACHABLE_WITHIN_MS = 10_000
POLL_S = 0.05  # the longest a poll waits, so the loop notices shutdown and keeps `reachable` fresh
BATCH = 2000


class AggregatesFeed:
    def __init__(self, settings: Settings, view: SalesView) -> None:
        self.settings = settings
        self.view = view
        self.caught_up = asyncio.Event()  # the whole log, as of start-up, is folded in
        self.kafka_ok = False
        self.last_poll_ms = 0
        self.lag = 0  # records on the broker not read yet, over all partitions
        self._next: dict[int, int] = {}  # partition -> next offset to read
        self._consumer = Consumer(client_config(settings, **{
            # Private reader: every app process folds the whole topic; it never commits offsets.
            "group.id": f"salesdash-app-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }))

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
            await asyncio.to_thread(self._consumer.close)

    async def _follow(self) -> None:
        await self._assign()
        ends = await asyncio.to_thread(self._high_watermarks)
        while True:
            messages = await asyncio.to_thread(self._take)
            self.last_poll_ms = int(time.time() * 1000)
            self.kafka_ok = True
            for message in messages:
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("aggregates consumer: %s", message.error())
                    continue
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

    def _take(self) -> list[Message]:
        # poll() returns at the first record; consume(n, 0) then takes what has already arrived. consume()
        # alone would hold ready records until its timeout: up to 50 ms more on every update's way.
        first = self._consumer.poll(POLL_S)
        if first is None:
            return []
        return [first, *self._consumer.consume(BATCH - 1, 0)]

    def reachable(self) -> bool:
        return self.kafka_ok and int(time.time() * 1000) - self.last_poll_ms < REACHABLE_WITHIN_MS

    def _lag(self) -> int:
        # Cached watermarks come with every fetch response: no request to the broker.
        lag = 0
        for tp in self._consumer.assignment():
            low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high >= 0:
                lag += max(0, high - self._next.get(tp.partition, max(low, 0)))
        return lag

    async def _assign(self) -> None:
        topic = self.settings.aggregates_topic
        while True:
            metadata = await asyncio.to_thread(self._consumer.list_topics, topic, 10)
            partitions = metadata.topics.get(topic)
            if partitions is not None and partitions.error is None and partitions.partitions:
                self._consumer.assign([TopicPartition(topic, p, -2) for p in partitions.partitions])
                return
            log.info("waiting for topic %s (start the worker: python -m stream)", topic)
            await asyncio.sleep(1.0)

    def _high_watermarks(self) -> dict[int, int]:
        ends = {}
        for tp in self._consumer.assignment():
            low, high = self._consumer.get_watermark_offsets(tp, timeout=10)
            if high > low:
                ends[tp.partition] = high
        return ends
