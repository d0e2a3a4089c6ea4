"""Alerts, decided by a pure evaluator: a merchant, channel or country gone silent or far below its
expected rate, dead letters jumping, data too old.

Expected rate: the subject's orders in the compare day's same minutes, scaled to today's overall level
(today's orders so far over the compare day's orders by the same time of day), so a quiet morning does
not raise every subject at once. A subject is judged only where enough was expected (`min_expected`):
"silent" with no order in the window, "below" under `below_fraction` of what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stream.config import integer, number


@dataclass(frozen=True)
class Thresholds:
    window_minutes: int = field(default_factory=lambda: integer("ALERT_WINDOW_MINUTES", 5, minimum=1))
    min_expected: float = field(default_factory=lambda: number("ALERT_MIN_EXPECTED", 20))
    below_fraction: float = field(default_factory=lambda: number("ALERT_BELOW_FRACTION", 0.2))
    dead_letters_jump: int = field(default_factory=lambda: integer("ALERT_DEAD_LETTERS_JUMP", 50))
    data_age_s: float = field(default_factory=lambda: number("ALERT_DATA_AGE_S", 30))


@dataclass(frozen=True, order=True)
class Alert:
    kind: str  # silent, below, dead_letters, data_age
    scope: str  # merchant, channel, country, or the whole dashboard
    subject: str
    detail: str


def for_merchant(raised: list[Alert], merchant: str) -> list[Alert]:
    """What one merchant's view may see: its own alerts and the data-age one (its figures are late too),
    never another merchant's, a channel's, a country's or the dead letters (all merchants' junk)."""
    return [a for a in raised if a.kind == "data_age" or (a.scope == "merchant" and a.subject == merchant)]


def public(raised: list[Alert]) -> list[dict[str, str]]:
    """Alerts as /api/alerts and the live feed's messages show them."""
    return [{"kind": a.kind, "scope": a.scope, "subject": a.subject, "detail": a.detail} for a in raised]


def level(today_so_far: int, compare_so_far: int) -> float:
    """Today's overall level against the compare day by the same time of day (1.0 with nothing to go on)."""
    return today_so_far / compare_so_far if compare_so_far > 0 else 1.0


def rates(scope: str, actual: Mapping[str, int], expected: Mapping[str, float], scale: float,
          thresholds: Thresholds) -> list[Alert]:
    """Subjects of one scope whose orders in the window (`actual`) fell far below the compare day's in the
    same minutes (`expected`, before scaling)."""
    alerts = []
    for subject, before in expected.items():
        wanted = before * scale
        if wanted < thresholds.min_expected:
            continue
        got = actual.get(subject, 0)
        if got == 0:
            alerts.append(Alert("silent", scope, subject, f"no orders in {thresholds.window_minutes} min "
                                                          f"where {wanted:.0f} were expected"))
        elif got < thresholds.below_fraction * wanted:
            alerts.append(Alert("below", scope, subject, f"{got} orders in {thresholds.window_minutes} min "
                                                         f"where {wanted:.0f} were expected"))
    return alerts


def counted_since(first: Mapping[str, int], last: Mapping[str, int]) -> dict[str, int]:
    """Each subject's orders counted between two samples of the day's running totals (orders only grow)."""
    return {subject: n - first.get(subject, 0) for subject, n in last.items() if n > first.get(subject, 0)}


def spread(window_orders: int, day_orders: Mapping[str, int]) -> dict[str, float]:
    """The compare day's orders in the window shared out by each subject's share of that whole day's
    orders: what each channel or country would have sold in those minutes at the day's mix."""
    whole = sum(day_orders.values())
    if whole <= 0:
        return {}
    return {subject: window_orders * n / whole for subject, n in day_orders.items() if n > 0}


def mix(scope: str, first: Mapping[str, int], last: Mapping[str, int], window_orders: int,
        compare_day: Mapping[str, int], scale: float, thresholds: Thresholds) -> list[Alert]:
    """Subjects of a scope kept only as day totals (channel, country): today's orders between two samples
    of those totals against the compare day's orders in the window at that day's mix, scaled."""
    return rates(scope, counted_since(first, last), spread(window_orders, compare_day), scale, thresholds)


def dead_letters(jump: int, thresholds: Thresholds) -> list[Alert]:
    """Dead letters counted over the window: a producer sending junk."""
    if thresholds.dead_letters_jump and jump >= thresholds.dead_letters_jump:
        detail = f"{jump} dead letters in {thresholds.window_minutes} min"
        return [Alert("dead_letters", "all", "all", detail)]
    return []


def data_age(age_s: float | None, thresholds: Thresholds) -> list[Alert]:
    if age_s is not None and age_s > thresholds.data_age_s:
        return [Alert("data_age", "all", "all", f"data is {age_s:.0f} s old")]
    return []
