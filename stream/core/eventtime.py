"""Event-time buckets: the minute and the UTC day an order belongs to, from its own timestamp in ms."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

SECOND_MS = 1_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000


def minute_start(ts_ms: int) -> int:
    """Start of the minute containing ts_ms (floor, so negative times bucket correctly too)."""
    return ts_ms - ts_ms % MINUTE_MS


def day_start(ts_ms: int) -> int:
    return ts_ms - ts_ms % DAY_MS


def second_start(ts_ms: int) -> int:
    return ts_ms - ts_ms % SECOND_MS


def day_of(ts_ms: int) -> str:
    """The UTC day as YYYY-MM-DD."""
    return _day_name(ts_ms - ts_ms % DAY_MS)


@lru_cache(maxsize=64)
def _day_name(start_ms: int) -> str:
    return datetime.fromtimestamp(start_ms / 1000, UTC).date().isoformat()


def minute_is_final(minute_start_ms: int, watermark: int, grace_ms: int) -> bool:
    """A minute is final once the event-time watermark has passed its end plus the grace period."""
    return minute_start_ms + MINUTE_MS + grace_ms <= watermark


def day_is_closed(ts_ms: int, watermark: int, allowed_lateness_ms: int) -> bool:
    """An event's day is closed, and the event too late to count, once the watermark is past the day's
    end by more than the allowed lateness."""
    return day_start(ts_ms) + DAY_MS + allowed_lateness_ms <= watermark


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only: fromisoformat also takes week dates


def parse_day(text: str) -> tuple[int, int]:
    """[start_ms, end_ms) of a YYYY-MM-DD UTC day. Raises ValueError with a readable message."""
    if not isinstance(text, str) or not _DAY.fullmatch(text):
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}")
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}") from None
    start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
    return start, start + DAY_MS


@dataclass(frozen=True)
class Day:
    name: str  # YYYY-MM-DD
    start_ms: int
    end_ms: int
    close_ms: int  # a partition's watermark at or past this closes the day: nothing later counts for it

    def holds(self, timestamp_ms: int) -> bool:
        return self.start_ms <= timestamp_ms < self.end_ms


def day(text: str, now_ms: int, allowed_lateness_ms: int) -> Day:
    """The day named by `text`; ValueError with a one-line reason for a malformed or future day."""
    start, end = parse_day(text)
    if start > now_ms:
        raise ValueError(f"{text} is in the future")
    return Day(text, start, end, end + allowed_lateness_ms)
