"""At-least-once delivery repeats events: remember recent event_ids so each is counted once.

Memory is bounded by a horizon of event time behind the partition's watermark (and a hard cap on
entries). Entries leave in arrival order, so the set depends only on the input sequence: replaying the
same input offsets rebuilds exactly the same set after a crash.
"""

from __future__ import annotations

from collections import deque


class Dedupe:
    def __init__(self, horizon_ms: int, max_ids: int = 5_000_000) -> None:
        self.horizon_ms = horizon_ms
        self.max_ids = max_ids
        self.watermark = 0
        self._ids: set[str] = set()
        self._arrivals: deque[tuple[int, int, str]] = deque()  # (offset, occurred_at, event_id)

    def __len__(self) -> int:
        return len(self._ids)

    def first_time(self, event_id: str, occurred_at: int, offset: int) -> bool:
        """True the first time an event_id is seen within the horizon; records it."""
        ids = self._ids
        if event_id in ids:
            return False
        ids.add(event_id)
        arrivals = self._arrivals
        arrivals.append((offset, occurred_at, event_id))
        if occurred_at > self.watermark:
            self.watermark = occurred_at
        oldest = self.watermark - self.horizon_ms
        while arrivals and (arrivals[0][1] < oldest or len(arrivals) > self.max_ids):
            ids.discard(arrivals.popleft()[2])
        return True

    @property
    def oldest_offset(self) -> int | None:
        """Input offset of the oldest remembered event: where a rebuild after a crash starts reading."""
        return self._arrivals[0][0] if self._arrivals else None
