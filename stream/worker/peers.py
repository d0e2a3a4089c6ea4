"""The watermarks of the partitions other workers own, learnt from their checkpoints, so that a worker
whose own partitions are all quiet still has busy ones to follow (stream/worker/idle.py).

A thread of its own reads the aggregates topic's partitions this worker does not own, committed records
only, from the end (what moved a watermark before it started is not needed: a busy partition checkpoints
within STREAM_CHECKPOINT_MS), and decodes of each record only its chain fields (`checkpoint.link`): the
watermark and whether it is a follow step. It never holds the counting loop: the loop takes a copy of
what it knows. If it fails, its marks age out and idle partitions follow only this worker's busy ones.
"""

from __future__ import annotations

import logging
import threading
import time

from stream.config import Settings
from stream.core.checkpoint import Unreadable, link
from stream.kafka import OFFSET_END, KafkaException
from stream.kafka.reader import Consumed, Reader
from stream.worker.idle import PeerMark, busy_peers, seen

log = logging.getLogger("salesdash.stream")
REFRESH_S = 5.0  # how soon partitions added to the aggregates topic are read too


class Peers(threading.Thread):
    def __init__(self, settings: Settings) -> None:
        super().__init__(name="peers", daemon=True)
        self.settings = settings
        self._marks: dict[int, PeerMark] = {}
        self._owned: frozenset[int] = frozenset()
        self._stop_event = threading.Event()
        self._reader = Reader.open(settings, "peers", missing_is_empty=True, prefetch="small")

    def busy(self, owned: set[int]) -> dict[int, int]:
        """The watermarks of the busy partitions of the others, given what this worker owns now."""
        self._owned = frozenset(owned)
        marks = self._marks.copy()  # one step under the GIL: the thread may be changing it meanwhile
        return busy_peers({p: m for p, m in marks.items() if p not in owned}, time.monotonic(),
                          self.settings.idle_s)

    def known(self, owned: set[int]) -> dict[int, int]:
        """The last watermark read of every partition of the others, busy or quiet."""
        return {p: m.watermark for p, m in self._marks.copy().items() if p not in owned}

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_event.set()
        if self.ident is not None:
            self.join(timeout)

    def run(self) -> None:
        topic = self.settings.aggregates_topic
        partitions: list[int] = []
        refreshed = 0.0
        try:
            while not self._stop_event.is_set():
                if time.monotonic() - refreshed >= REFRESH_S:
                    partitions, refreshed = self._partitions(topic, partitions), time.monotonic()
                self._watch(topic, set(partitions) - self._owned)
                for message in self._reader.take(1_000, 0.2):
                    self._seen(message)
        except Exception:  # the worker counts on without it: idle partitions follow its own busy ones
            log.exception("reading the other workers' checkpoints failed")
        finally:
            self._reader.close()

    def _partitions(self, topic: str, known: list[int]) -> list[int]:
        try:
            return self._reader.partitions(topic) or known
        except KafkaException:  # a broker restarting: the partitions known so far, asked again later
            return known

    def _watch(self, topic: str, wanted: set[int]) -> None:
        watched = {p for _, p in self._reader.following}
        if wanted - watched:
            self._reader.assign({(topic, p): OFFSET_END for p in wanted - watched})
        if watched - wanted:
            self._reader.unassign({(topic, p) for p in watched - wanted})
            for partition in watched - wanted:
                self._marks.pop(partition, None)

    def _seen(self, message: Consumed) -> None:
        try:
            found = link(message.value())
        except Unreadable:
            return  # not a checkpoint: it moves no watermark
        partition = message.partition()
        self._marks[partition] = seen(self._marks.get(partition), found.wm, found.follow is not None,
                                      time.monotonic())
