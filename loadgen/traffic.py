"""One stream of messages: the model's events, with faults slipped in, sent to Kafka and tallied as
ground truth when asked. Live runs and backfills differ only in the times they hand to `emit`."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from loadgen.faults import KINDS, Faults
from loadgen.model import Model
from loadgen.producer import Outgoing
from loadgen.truth import Truth


class Sink(Protocol):
    """Where messages go: loadgen.producer.Sender, or a list in the benchmark."""

    def send_all(self, messages: Iterable[Outgoing]) -> None: ...


class Traffic:
    def __init__(self, model: Model, sender: Sink, faults: Faults | None = None, truth: Truth | None = None,
                 earliest_ms: int = 0) -> None:
        self.model = model
        self.sender = sender
        self.faults = faults or Faults()
        self.truth = truth
        self.earliest_ms = earliest_ms  # late events are not pushed before this (a backfilled day's start)
        self.now_ms: Callable[[], int] = lambda: int(time.time() * 1000)  # what far_future is 30 days after
        self.made = 0  # events from the model, sent once each
        self.duplicates = 0
        self.late = 0
        self.malformed = 0
        # duplicates waiting for the stream's time to reach theirs: (due ms, order, value, key, occurred_at)
        self._pending: list[tuple[int, int, bytes, bytes | None, int]] = []

    def emit(self, times: list[int]) -> None:
        """One event for each occurred_at in `times`, plus whatever faults go with them."""
        self.made += len(times)
        if self.faults.enabled or self.truth is not None:
            self.sender.send_all(self._with_faults(times))
        else:
            self.sender.send_all(self.model.events(times))

    def _with_faults(self, times: list[int]) -> list[Outgoing]:
        faults, truth, pending = self.faults, self.truth, self._pending
        lateness = [faults.lateness() for _ in times]
        details: list[tuple[int, bool]] = []
        events = self.model.events([max(self.earliest_ms, at - late) if late else at
                                    for at, late in zip(times, lateness, strict=True)], details)
        messages: list[Outgoing] = []
        made = self.made - len(times)
        for event, (cents, refund), late, at in zip(events, details, lateness, times, strict=True):
            messages.append(event)
            made += 1
            if truth is not None:
                truth.add(event[2], cents, refund)
            if late:
                self.late += 1
                if truth is not None:
                    truth.add_late(event[0])
            after = faults.duplicate_after()
            if after:
                heapq.heappush(pending, (at + after, made, event[0], event[1], event[2]))
            while pending and pending[0][0] <= at:
                messages.append(self._duplicate())
            kind = faults.bad_kind()
            if kind is not None:
                messages.append(self._malformed(kind, at))
        return messages

    def finish(self) -> None:
        """Send the duplicates still waiting for their turn."""
        self.sender.send_all([self._duplicate() for _ in range(len(self._pending))])

    def _duplicate(self) -> Outgoing:
        _, _, value, key, occurred_at = heapq.heappop(self._pending)
        self.duplicates += 1
        if self.truth is not None:
            self.truth.add_copy(value)
        return value, key, occurred_at

    def _malformed(self, kind: str, at: int) -> Outgoing:
        sample, key = self.model.sample(at)
        self.malformed += 1
        if self.truth is not None:
            self.truth.add_rejected(KINDS[kind])
        # Stamped with the stream's time, not its own (maybe absurd) occurred_at: the log stays in order.
        return self.faults.malformed(kind, sample, self.now_ms()), key, at
