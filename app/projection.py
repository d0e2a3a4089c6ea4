"""The end-of-day projection: today's net so far, scaled by how much of the compare day's net was done by
the same minute of the day, with a band for how far one day's curve can stray from another's.

With `done` the compare day's net through the minute and `whole` its day's net, the share done is
s = done / whole, and

- projected = so_far / s, rounded half away from zero to the cent;
- today's share done is taken to lie within s ± m, m = K·√(s·(1 - s)) (K = 1/20): wide early in the day,
  when a little more or less done moves the total a lot, and nothing at the day's end (m·whole is taken up
  to a whole cent). The band is so_far / min(1, s + m) … so_far / (s - m), the low edge rounded down and
  the high one up: today's net through the minute over the most and the least it may have done.

Measured on backfilled days (tests/app/test_projection_error.py) the true total fell in the band in over
95% of projections (all 360 there). Everything is exact integer arithmetic (m·whole from a ceiling
integer square root), so the page (static/projection.js) works out the same cents. Nothing is projected
without a compare day or while its share done is below MIN_SHARE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from math import ceil, floor, isqrt

K = Fraction(1, 20)  # how far today's share done may stray, in units of √(s·(1 - s))
MIN_SHARE = Fraction(1, 100)  # below this share done the compare day says too little to project


@dataclass(frozen=True)
class Projection:
    so_far_cents: int
    projected_cents: int
    low_cents: int
    high_cents: int
    share_ppm: int  # the compare day's share done, in millionths (rounded down), for the page to show

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def project(so_far: int, done: int, whole: int) -> Projection | None:
    """Today's end-of-day net from `so_far` (today's net through the minute, cents), `done` (the compare
    day's net through the same minute) and `whole` (the compare day's whole net); None when the compare
    day has no positive net or its share done is below MIN_SHARE (or the day is a few cents)."""
    if whole <= 0:
        return None
    done = min(done, whole)  # refunds later in the compare day can leave it above the whole day's net
    if done < MIN_SHARE * whole:
        return None
    spread = _ceil_div(_ceil_isqrt(K.numerator ** 2 * done * (whole - done)), K.denominator)  # m·whole
    fast, slow = min(whole, done + spread), done - spread  # today's share done at most/least, × whole
    if slow <= 0:  # K·√(s(1 - s)) < s for s ≥ MIN_SHARE: only a day of a few cents rounds up to here
        return None
    ends = (Fraction(so_far * whole, fast), Fraction(so_far * whole, slow))
    return Projection(so_far, _round_half_away(Fraction(so_far * whole, done)), floor(min(ends)),
                      ceil(max(ends)), done * 1_000_000 // whole)


def _ceil_isqrt(n: int) -> int:
    root = isqrt(n)
    return root if root * root == n else root + 1


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _round_half_away(x: Fraction) -> int:
    magnitude = (2 * abs(x.numerator) + x.denominator) // (2 * x.denominator)
    return magnitude if x >= 0 else -magnitude
