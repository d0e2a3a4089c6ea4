"""Replay time: event time runs `speed` times faster than the wall clock from where it last stood.

One mapping serves both ends of a replay: the reading processes pace records by it (`event_at`,
`wall_at`), and each viewer of a session plays, pauses, seeks and changes speed on one (`now`).
"""

from __future__ import annotations

from dataclasses import dataclass

FOREVER_MS = 2**62  # the end of a clock that never stops (a paced replay runs until its records do)


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


@dataclass
class Clock:
    """Event time between `start_ms` and `end_ms`; `speed` None plays everything at once."""

    start_ms: int
    end_ms: int
    speed: float | None
    since_s: float  # wall time (time.monotonic(), system-wide on Linux) the clock last stood at `at_ms`
    playing: bool = True
    at_ms: int = 0

    def __post_init__(self) -> None:
        self.at_ms = self.start_ms

    def event_at(self, wall_s: float) -> float:
        """The event time (ms) due at wall time `wall_s`, unclamped: what a paced reader feeds up to."""
        if not self.playing:
            return float(self.at_ms)
        if self.speed is None:
            return float(self.end_ms)
        return self.at_ms + (wall_s - self.since_s) * 1000.0 * self.speed

    def wall_at(self, event_ms: int) -> float:
        """The wall time (monotonic s) at which event time `event_ms` is due."""
        assert self.speed is not None
        return self.since_s + (event_ms - self.at_ms) / (1000.0 * self.speed)

    def now(self, wall_s: float) -> int:
        """The event time shown at `wall_s`: never before where it stood, never past the end."""
        if not self.playing:
            return self.at_ms
        if self.speed is None:
            return self.end_ms
        moved = int((wall_s - self.since_s) * 1000 * self.speed)
        return min(self.end_ms, self.at_ms + max(0, moved))

    def pause(self, wall_s: float) -> None:
        self.at_ms, self.since_s, self.playing = self.now(wall_s), wall_s, False

    def play(self, wall_s: float) -> None:
        if self.now(wall_s) >= self.end_ms:
            self.at_ms = self.start_ms  # play after the end starts over, as a media player does
        self.since_s, self.playing = wall_s, True

    def seek(self, to_ms: int, wall_s: float) -> None:
        self.at_ms, self.since_s = min(self.end_ms, max(self.start_ms, to_ms)), wall_s

    def set_speed(self, speed: float | None, wall_s: float) -> None:
        self.at_ms, self.since_s, self.speed = self.now(wall_s), wall_s, speed
