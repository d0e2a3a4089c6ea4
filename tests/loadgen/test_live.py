"""Live pacing, without Kafka: the count follows the profile at the rate, on the wall clock, and --speed
runs the profile's clock faster."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from loadgen.catalog import Catalog
from loadgen.live import run_live
from loadgen.model import Model
from loadgen.producer import Outgoing
from loadgen.profiles import BlackFriday, Steady
from loadgen.stop import Stop
from loadgen.traffic import Traffic


class Clocked:
    """Stands in for Kafka: notes when each message was handed over, and its occurred_at."""

    def __init__(self) -> None:
        self.handed: list[tuple[float, int]] = []

    def send_all(self, messages: Iterable[Outgoing]) -> None:
        now = time.monotonic()
        self.handed.extend((now, occurred_at) for _, _, occurred_at in messages)

    def poll(self, timeout: float) -> None:
        time.sleep(timeout)

    def between(self, start: float, end: float) -> int:
        first = self.handed[0][0]
        return sum(start <= at - first < end for at, _ in self.handed)


def live(shape: Steady | BlackFriday, rate: float, duration: float, speed: float = 1.0,
         stop: Stop | None = None) -> Clocked:
    sink = Clocked()
    run_live(Traffic(Model(Catalog(1, 100), 1), sink), sink, shape, rate, duration, speed, stop or Stop(),
             lambda made, target: None)
    return sink


def test_a_fixed_duration_sends_exactly_rate_times_duration_spread_over_it() -> None:
    sink = live(Steady(), rate=400, duration=1.5)
    assert len(sink.handed) == 600
    assert 150 < sink.between(0.5, 1.0) < 250  # paced, not sent in one burst
    assert sink.handed[-1][0] - sink.handed[0][0] > 1.3


def test_events_carry_the_wall_clock() -> None:
    before = int(time.time() * 1000)
    sink = live(Steady(), rate=200, duration=0.5)
    after = int(time.time() * 1000)
    assert all(before <= occurred_at <= after for _, occurred_at in sink.handed)


def test_speed_runs_the_profile_clock_faster() -> None:
    # An hour of the weekend per second: Black Friday's midnight rush, two hours in, comes after 2 s.
    sink = live(BlackFriday(seed=1, merchants=100), rate=200, duration=2.5, speed=3600)
    per_second_before, per_second_after = sink.between(1.5, 1.9) / 0.4, sink.between(2.0, 2.2) / 0.2
    assert per_second_after > 3 * per_second_before > 0


def test_ctrl_c_ends_an_endless_run() -> None:
    stop = Stop()
    threading.Timer(0.5, stop._signalled).start()
    started = time.monotonic()
    sink = live(Steady(), rate=100, duration=0, stop=stop)
    assert time.monotonic() - started < 2
    assert 30 < len(sink.handed) < 100
