"""Resuming a backfill: the log is the truth.

A backfill is deterministic (the same day, seed and options make the same messages in the same order),
and its idempotent producer writes each partition's messages in the order they were sent, with no gaps.
So after SIGTERM or kill -9 each partition holds a prefix of what the run sends it. Started again, the
run makes the same messages and passes over, per partition, as many as the log already holds: the topic
ends up as an uninterrupted run leaves it, no message twice. A check pass first makes sure the records
in the log are this run's (the last one held in each partition is the message the run makes there at
that place), before anything is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from loadgen.producer import Outgoing
from loadgen.traffic import Sink
from stream.audit.murmur2 import partition_for
from stream.config import Settings
from stream.kafka import timeindex
from stream.kafka.reader import last_value


class NotThisRun(Exception):
    """The records in the log are not a prefix of what this backfill makes; one line for the user."""


class Verified(Exception):
    """The check pass has met the last held record of every partition."""


@dataclass(frozen=True)
class Held:
    count: int  # records of the day the partition holds
    last: bytes | None  # the value of the newest one


def held(settings: Settings, day_start_ms: int) -> tuple[int, dict[int, Held]]:
    """The orders topic's partition count, and per partition what it holds stamped in the day or later
    (a backfill is refused when anything was there before it: so this is what earlier runs wrote)."""
    topic = settings.orders_topic
    probe = timeindex.probe(settings, "backfill")
    try:
        partitions = len(timeindex.partitions(probe, topic))
        spans = timeindex.spans(probe, topic, day_start_ms)
    finally:
        probe.close()
    # The loadgen's producer is not transactional: no control records, so offsets count records.
    return partitions, {s.partition: Held(s.size, last_value(settings, topic, s.partition)) for s in spans}


@functools.lru_cache(maxsize=1 << 16)
def _partition(key: bytes | None, partitions: int) -> int:
    if key is None:  # a backfill keys every message (by merchant); a keyless one could land anywhere
        raise NotThisRun("a message without a key cannot be placed")
    return partition_for(key, partitions)


class Skipping:
    """A Sink that passes over, per partition, the messages the log already holds and sends the rest."""

    def __init__(self, sink: Sink | None, partitions: int, held: dict[int, Held]) -> None:
        self.sink = sink  # None: the check pass, nothing is sent
        self.partitions = partitions
        self.held = held
        self.left = {p: h.count for p, h in held.items() if h.count}
        self.skipped = 0

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        if not self.left:
            if self.sink is None:
                raise Verified
            self.sink.send_all(messages)
            return
        out: list[Outgoing] = []
        left, partitions = self.left, self.partitions
        for message in messages:
            p = _partition(message[1], partitions)
            n = left.get(p)
            if not n:
                out.append(message)
                continue
            self.skipped += 1
            if n > 1:
                left[p] = n - 1
                continue
            del left[p]
            if message[0] != self.held[p].last:
                raise NotThisRun(f"partition {p} holds records this backfill did not write (another seed, "
                                 "other options, or other records stamped in the day or later)")
        if self.sink is not None:
            self.sink.send_all(out)
        elif not left:
            raise Verified

    def check_complete(self) -> None:
        """After the last message: every record held was one of the run's."""
        if self.left:
            p, n = next(iter(self.left.items()))
            raise NotThisRun(f"partition {p} holds {n:,} records more than this backfill writes (another "
                             "--orders, seed or options, or other records stamped in the day or later)")
