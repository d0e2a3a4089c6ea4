"""Live traffic: events stamped with the wall clock, paced so the count sent follows the profile at
`rate` times its multiplier; `speed` runs the profile's clock that many times faster than the wall clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from loadgen.profiles import Profile
from loadgen.stop import Stop
from loadgen.traffic import Traffic


class Waiter(Protocol):
    def poll(self, timeout: float) -> None:
        """Wait up to `timeout` s, serving the producer's reports meanwhile."""

BATCH = 1000  # events per stamp of the clock: ~3 ms of work at full speed


def run_live(traffic: Traffic, sender: Waiter, shape: Profile, rate: float, duration: float, speed: float,
             stop: Stop, report: Callable[[int, float], None]) -> None:
    """Until `duration` seconds have passed (0: until stopped). A fixed duration sends exactly the events
    due by then: `--rate 50 --duration 10` sends 500. `report(events made, target rate)` is called often."""

    def due(t: float) -> float:
        return rate / speed * shape.area(speed * t)

    total = int(due(duration) + 1e-9) if duration else None
    started = time.monotonic()
    sale: tuple[int, float] | None = None
    while not stop.requested:
        t = time.monotonic() - started
        wanted = int(due(t)) + 1  # the first event goes at once
        if total is not None:
            wanted = min(wanted, total)
        todo = wanted - traffic.made
        current = rate * shape.multiplier(speed * t)
        flash = shape.flash(speed * t)
        if flash != sale:
            traffic.model.focus(flash)
            sale = flash
        if todo > 0:
            traffic.emit([int(time.time() * 1000)] * min(todo, BATCH))
        elif total is not None and traffic.made >= total:
            break
        else:
            sender.poll(min(0.02, 1 / max(current, 1.0)))  # nothing due yet: serve reports meanwhile
        report(traffic.made, current)
