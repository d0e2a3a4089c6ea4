"""Event-time buckets: the minute and the UTC day an order belongs to, from its own timestamp in ms."""

from __future__ import annotations

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


def parse_day(text: str) -> tuple[int, int]:
    """[start_ms, end_ms) of a YYYY-MM-DD UTC day. Raises ValueError with a readable message."""
    try:
        d = date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}") from None
    if len(text) != 10:
        raise ValueError(f"not a day in YYYY-MM-DD form: {text!r}")
    start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
    return start, start + DAY_MS
