"""Backfill a past UTC day: the whole day's events with their true times (Kafka timestamp = occurred_at),
spread over the day by the profile's shape, sent as fast as the broker takes them."""

from __future__ import annotations

import functools
from collections.abc import Callable

from loadgen.profiles import Profile
from loadgen.stop import Stop
from loadgen.traffic import Traffic
from stream.core.eventtime import parse_day

BATCH = 2000
# A backfill's far_future events are 30 days after this fixed "now" (2100-01-01), not the wall clock's:
# then the same day and seed make the same bytes, and a resumed run matches the log it continues.
FROZEN_NOW_MS = 4_102_444_800_000


def check_day(text: str, now_ms: int) -> int:
    """The day's start in ms; ValueError, with a one-line reason, unless it is a well-formed past day."""
    start, end = parse_day(text)
    if start > now_ms:
        raise ValueError(f"{text} is in the future")
    if end > now_ms:
        raise ValueError(f"{text} is today and not over yet: only past days can be backfilled")
    return start


def run_backfill(traffic: Traffic, shape: Profile, day_start_ms: int, plan: list[int], stop: Stop,
                 report: Callable[[int], None]) -> None:
    """`plan`: events in each second of the day (profiles.day_plan). `report(events made so far)` is called
    after each batch."""
    traffic.earliest_ms = day_start_ms  # late events stay inside the day
    traffic.now_ms = lambda: FROZEN_NOW_MS
    times: list[int] = []
    sale: tuple[int, float] | None = None
    for second, count in enumerate(plan):
        flash = shape.flash(shape.day_start + second)
        if flash != sale:  # a flash sale starts or ends: what came before goes out under the old focus
            traffic.emit(times)
            times = []
            traffic.model.focus(flash)
            sale = flash
        base = day_start_ms + second * 1000
        times.extend([base + offset for offset in _offsets(count)])
        if len(times) >= BATCH:
            traffic.emit(times)
            times = []
            report(traffic.made)
            if stop.requested:
                return
    traffic.emit(times)


@functools.cache
def _offsets(count: int) -> tuple[int, ...]:
    """Offsets in ms of `count` events spread evenly over a second."""
    return tuple(j * 1000 // count for j in range(count))
