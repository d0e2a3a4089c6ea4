"""Resuming a backfill (stream.kafka.prefix): the same day, seed and options make the same messages in the
same order, and the idempotent producer keeps each partition's in order without gaps, so a run started
again passes over, per partition, what the log holds of it. A check pass first makes the messages without
sending any, to be sure the records in the log are this run's before anything is sent."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from loadgen.producer import Outgoing
from loadgen.traffic import Sink
from stream.core.routing import partition_for
from stream.kafka.prefix import Held, NotAPrefix, Prefix


class Verified(Exception):
    """The check pass has met the last held record of every partition."""


@functools.lru_cache(maxsize=1 << 16)
def _partition(key: bytes | None, partitions: int) -> int:
    if key is None:  # a backfill keys every message (by merchant); a keyless one could land anywhere
        raise NotAPrefix("a message without a key cannot be placed")
    return partition_for(key, partitions)


class Skipping:
    """A Sink that passes over the messages the log already holds and sends the rest to `sink` (None:
    the check pass, which sends nothing and raises Verified once every held record is met)."""

    def __init__(self, sink: Sink | None, partitions: int, held: dict[int, Held]) -> None:
        self.sink = sink
        self.partitions = partitions
        self.prefix = Prefix(held)

    @property
    def skipped(self) -> int:
        return self.prefix.passed

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        prefix = self.prefix
        if prefix.left:
            holds, partitions = prefix.holds, self.partitions
            messages = [m for m in messages if not holds(_partition(m[1], partitions), m[0])]
        if self.sink is not None:
            self.sink.send_all(messages)
        elif not prefix.left:
            raise Verified

    def check_complete(self) -> None:
        self.prefix.check_complete()
