"""Traffic shapes: how the order rate moves on the profile's own clock (seconds from its start), as a
multiple of the baseline `--rate`. `steady` is flat; `ramp` climbs without end, to find where things
break; `bfcm` is the Black Friday weekend, from Thanksgiving evening to the Cyber Monday tail."""

from __future__ import annotations

import bisect
import math
import random
from abc import ABC, abstractmethod

from loadgen.shares import spread

HOUR = 3600
DAY = 86_400
PROFILES = ("steady", "ramp", "bfcm")


class Profile(ABC):
    name = ""
    day_start = 0.0  # where a backfilled day begins on this clock

    @abstractmethod
    def multiplier(self, t: float) -> float: ...

    @abstractmethod
    def area(self, t: float) -> float:
        """∫₀ᵗ multiplier: the number of baseline-seconds of orders due by profile time t."""

    def flash(self, t: float) -> tuple[int, float] | None:
        """A flash sale running at t: (merchant index, share of all orders it takes)."""
        return None


class Steady(Profile):
    name = "steady"

    def multiplier(self, t: float) -> float:
        return 1.0

    def area(self, t: float) -> float:
        return t


class Ramp(Profile):
    """From zero, reaching the baseline after ten minutes and climbing on at the same slope."""

    name = "ramp"
    minutes_to_baseline = 10

    def multiplier(self, t: float) -> float:
        return t / (self.minutes_to_baseline * 60)

    def area(self, t: float) -> float:
        return t * t / (2 * self.minutes_to_baseline * 60)


# Share of a day's orders by UTC hour (relative): asleep at 4 am, lunch, and the evening peak.
_DIURNAL_RAW = [0.9, 0.6, 0.4, 0.3, 0.25, 0.25, 0.35, 0.5, 0.7, 0.9, 1.05, 1.15, 1.25, 1.2, 1.15, 1.15, 1.2,
                1.3, 1.45, 1.6, 1.7, 1.6, 1.4, 1.15]
DIURNAL = [v * 24 / sum(_DIURNAL_RAW) for v in _DIURNAL_RAW]  # mean 1 over a day
# Thanksgiving evening, Black Friday, Saturday, Sunday, Cyber Monday, Tuesday; ordinary days after.
DAY_FACTORS = [1.2, 3.0, 1.8, 1.6, 2.6, 1.4]
_STEP = 10.0  # seconds per step of the numeric integral


class BlackFriday(Profile):
    """Clock starts Thanksgiving 22:00 UTC; at midnight the deals open and the rate jumps x8 in 30 s."""

    name = "bfcm"
    starts_at = 22 * HOUR  # time of day at t = 0
    black_friday = 2 * HOUR  # t of Black Friday midnight
    cyber_monday = black_friday + 3 * DAY
    day_start = black_friday  # a backfilled day is Black Friday

    def __init__(self, seed: int = 1, merchants: int = 2000) -> None:
        self._sales = _flash_sales(random.Random(f"{seed}:flash"), merchants, 6 * DAY)
        self._sale_starts = [start for start, _, _, _ in self._sales]
        self._areas = [0.0]
        # Spikes are x8 (Black Friday) and x3 (Cyber Monday) the rate just before midnight, so on top of
        # the new day's higher level they are that much less.
        self._spikes = [(midnight, peak * self._level(midnight - 0.001) / self._level(midnight))
                        for midnight, peak in ((self.black_friday, 8.0), (self.cyber_monday, 3.0))]

    def _level(self, t: float) -> float:
        """Day and hour of day, without spikes or flash sales."""
        clock = self.starts_at + t
        day = int(clock // DAY)
        factor = DAY_FACTORS[day] if day < len(DAY_FACTORS) else 1.0
        hour = clock % DAY / HOUR
        low = int(hour)
        return factor * (DIURNAL[low] + (DIURNAL[(low + 1) % 24] - DIURNAL[low]) * (hour - low))

    def base(self, t: float) -> float:
        """The weekend's shape without flash sales: day, hour of day, midnight spikes."""
        level = self._level(t)
        for midnight, peak in self._spikes:
            level *= _spike(t - midnight, peak)
        return level

    def multiplier(self, t: float) -> float:
        sale = self._sale_at(t)
        return self.base(t) + (sale[3] if sale else 0.0)

    def flash(self, t: float) -> tuple[int, float] | None:
        sale = self._sale_at(t)
        return (sale[2], sale[3] / self.multiplier(t)) if sale else None

    def area(self, t: float) -> float:
        steps = int(t // _STEP)
        while len(self._areas) <= steps + 1:  # extend the trapezoid table as the clock moves on
            k = len(self._areas) - 1
            f0, f1 = self.multiplier(k * _STEP), self.multiplier((k + 1) * _STEP)
            self._areas.append(self._areas[-1] + (f0 + f1) * _STEP / 2)
        a0, a1 = self._areas[steps], self._areas[steps + 1]
        return a0 + (a1 - a0) * (t - steps * _STEP) / _STEP

    def _sale_at(self, t: float) -> tuple[float, float, int, float] | None:
        i = bisect.bisect_right(self._sale_starts, t) - 1
        if i >= 0 and t < self._sales[i][1]:
            return self._sales[i]
        return None


def _spike(x: float, peak: float) -> float:
    # x seconds after midnight: up to `peak` within 30 s, then the rush fades over the next hour
    if x < 0:
        return 1.0
    rise = min(1.0, x / 30)
    return 1 + (peak - 1) * rise * math.exp(-max(0.0, x - 30) / 600)


def _flash_sales(rng: random.Random, merchants: int, span: float) -> list[tuple[float, float, int, float]]:
    """(start, end, merchant, extra rate) every hour and a half or so, never two at once."""
    sales = []
    t = rng.expovariate(1 / 5400)
    while t < span:
        end = t + rng.uniform(300, 1200)
        merchant = rng.randrange(min(5, merchants - 1), min(500, merchants)) if merchants > 1 else 0
        sales.append((t, end, merchant, rng.uniform(0.3, 1.0)))
        t = end + rng.expovariate(1 / 5400)
    return sales


def profile(name: str, seed: int = 1, merchants: int = 2000) -> Profile:
    if name == "steady":
        return Steady()
    if name == "ramp":
        return Ramp()
    if name == "bfcm":
        return BlackFriday(seed, merchants)
    raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")


def day_plan(shape: Profile, orders: int) -> list[int]:
    """Orders in each second of a backfilled day, following the shape, summing to exactly `orders`."""
    return spread([shape.multiplier(shape.day_start + s + 0.5) for s in range(DAY)], orders)
