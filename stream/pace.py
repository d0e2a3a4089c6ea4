"""Replay speed: event time runs `speed` times faster than the wall clock from a common starting point."""

from __future__ import annotations

from dataclasses import dataclass

SPEEDS = ("1", "10", "60", "600", "max")  # what the page offers; any speed above 0 works


def parse_speed(text: str) -> float | None:
    """A speed factor, or None for as fast as possible ("max"); ValueError otherwise."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"not a speed: {text!r} (a number such as 1, 10, 60, 600, or max)") from None
    if not 0 < speed < float("inf"):
        raise ValueError(f"a speed must be above 0, got {text}")
    return speed


@dataclass(frozen=True)
class Pace:
    speed: float
    event_anchor_ms: int  # this event time is shown at
    wall_anchor_s: float  # this time.monotonic() (system-wide on Linux: shared by the reading processes)

    def event_at(self, wall_s: float) -> float:
        """The event time (ms) due to be shown at wall time `wall_s`."""
        return self.event_anchor_ms + (wall_s - self.wall_anchor_s) * 1000.0 * self.speed

    def wall_at(self, event_ms: int) -> float:
        """The wall time (monotonic s) at which event time `event_ms` is due."""
        return self.wall_anchor_s + (event_ms - self.event_anchor_ms) / (1000.0 * self.speed)
