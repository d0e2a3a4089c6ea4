"""Compare with another day: that day's minutes, aligned by time of day (UTC: no daylight saving), behind
the shown day's, and the cumulative figures of both up to a minute, with the change.

The other day comes from the app's own SalesView — a closed day is compacted there already — and is
summarised once per day, encoded once, and shared by every viewer who chose it: no work per viewer per
push tick. A closed day's summary is kept (it cannot change); an open one's is remade at most every
OPEN_FRESH_S.

The compare object (websocket `{"type": "compare", "compare": ...}`, and `/api/snapshot?compare=D`):
`{"day", "start_ms", "closed", "totals": {"orders", "net_cents"}, "minutes": [{"start_ms", "orders",
"net_cents"}], "cumulative": {"orders": [...], "net_cents": [...]}, "channels", "countries"}` —
`cumulative[i]` is the running sum through `minutes[i]`; channels and countries are the whole day's.

A merchant's view compares with the same default day, from that merchant's own figures of it
(SalesView.merchant_snapshot: its per-merchant aggregates), in the same shape: its snapshot carries
`compare` and `comparison` (`with_merchant_compare`).
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from typing import Any

import orjson

from app.fanout import Frame, Viewer, encode
from app.projection import project
from stream.core.eventtime import MINUTE_MS, parse_day
from stream.core.salesview import SalesView

OPEN_FRESH_S = 30.0  # an open day's summary is this fresh at most
KEPT = 16  # summaries held (a closed day's is a few KB)
MERCHANTS_KEPT = 256  # merchants' summaries held: one per merchant watched, each its own day's minutes
DEFAULT, NONE = "default", "none"  # a viewer's choice besides a day


def summary(day: dict[str, Any], closed: bool) -> dict[str, Any]:
    """The compare object of a day in the /api/snapshot shape."""
    start = parse_day(day["day"])[0]
    minutes = sorted(day.get("minutes") or [], key=lambda m: m["start_ms"])
    rows, orders, net = [], [], []
    running_orders = running_net = 0
    for m in minutes:
        cents = m["gross_cents"] - m["refunds_cents"]
        running_orders += m["orders"]
        running_net += cents
        rows.append({"start_ms": m["start_ms"], "orders": m["orders"], "net_cents": cents})
        orders.append(running_orders)
        net.append(running_net)
    totals = day.get("totals") or {}
    return {"day": day["day"], "start_ms": start, "closed": closed,
            "totals": {"orders": totals.get("orders", 0), "net_cents": totals.get("net_cents", 0)},
            "minutes": rows, "cumulative": {"orders": orders, "net_cents": net},
            "channels": day.get("channels") or [], "countries": day.get("countries") or []}


def through(body: dict[str, Any], minute_of_day: int) -> dict[str, int]:
    """The other day's orders and net from its midnight through the end of minute `minute_of_day`."""
    starts = [m["start_ms"] - body["start_ms"] for m in body["minutes"]]
    i = bisect_right(starts, minute_of_day * MINUTE_MS)
    cumulative = body["cumulative"]
    return {"orders": cumulative["orders"][i - 1] if i else 0,
            "net_cents": cumulative["net_cents"][i - 1] if i else 0}


def shown_through(day: dict[str, Any], minute_of_day: int) -> dict[str, int]:
    """The shown day's orders and net through the end of minute `minute_of_day`, from its minutes."""
    last = parse_day(day["day"])[0] + minute_of_day * MINUTE_MS
    chosen = [m for m in day.get("minutes") or [] if m["start_ms"] <= last]
    return {"orders": sum(m["orders"] for m in chosen),
            "net_cents": sum(m["gross_cents"] - m["refunds_cents"] for m in chosen)}


def change_tenths(now: int, then: int) -> int | None:
    """The change from `then` to `now` in tenths of a percent, rounded half away from zero (integers
    only, so the page's figure is the same); None when there is nothing to compare with."""
    if then <= 0:
        return None
    q = 1000 * (now - then)
    tenths = (2 * abs(q) + then) // (2 * then)
    return tenths if q >= 0 else -tenths


def percent(tenths: int | None) -> str:
    if tenths is None:
        return "–"
    sign = "+" if tenths > 0 else "-" if tenths < 0 else "±"
    return f"{sign}{abs(tenths) // 10}.{abs(tenths) % 10}%"


def comparison(day: dict[str, Any], body: dict[str, Any], minute_of_day: int) -> dict[str, Any]:
    """Both days' cumulative figures through the same minute of the day, the change, and the shown
    day's end-of-day projection from the other day's curve (app.projection; None when it has none)."""
    mine, theirs = shown_through(day, minute_of_day), through(body, minute_of_day)
    net = change_tenths(mine["net_cents"], theirs["net_cents"])
    orders = change_tenths(mine["orders"], theirs["orders"])
    at = f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
    projected = project(mine["net_cents"], theirs["net_cents"], body["totals"]["net_cents"])
    return {"minute_of_day": minute_of_day, "at": at, "shown": mine, "other": theirs,
            "net_tenths": net, "orders_tenths": orders,
            "text": f"{percent(net)} against {body['day']} at {at}",
            "projection": None if projected is None else projected.as_dict()}


def minute_now(day: str, now_ms: int) -> int:
    """The minute of `day` to compare at: now's while the day runs, its last one once it is over."""
    start = parse_day(day)[0]
    return max(0, min(1439, (now_ms - start) // MINUTE_MS))


def choice(text: str) -> str:
    """A viewer's choice from ?compare= or a message: a day, NONE or DEFAULT; ValueError otherwise."""
    if text in (DEFAULT, NONE):
        return text
    parse_day(text)  # YYYY-MM-DD only; raises ValueError
    return text


class Comparisons:
    """The compare objects of the days viewers chose, made once per day and shared."""

    def __init__(self, view: SalesView, clock: Callable[[], float] = time.monotonic) -> None:
        self.view = view
        self._clock = clock
        self._made: OrderedDict[str, tuple[float, dict[str, Any], str]] = OrderedDict()
        self._merchants: OrderedDict[tuple[str, str], tuple[float, dict[str, Any], str]] = OrderedDict()
        self._orders: dict[str, int] = {}  # closed day -> its orders (closed days never change)
        self._defaults: dict[str, tuple[int, str | None]] = {}  # shown day -> (closed days seen, default)

    def default(self, shown: str) -> str | None:
        """The closed day before `shown` on the same weekday with the most orders, the newest of those
        (last year's Black Friday on Black Friday), or None."""
        known = self._defaults.get(shown)
        if known is not None and known[0] == len(self.view.closed_days):
            return known[1]  # days only ever join closed_days: the same count is the same set
        weekday = date.fromisoformat(shown).weekday()
        best: tuple[int, str] | None = None
        for name in self.view.closed_days:
            if name >= shown or date.fromisoformat(name).weekday() != weekday:
                continue
            orders = self._orders.get(name)
            if orders is None:
                orders = self._orders[name] = int(self.view.snapshot(name)["totals"]["orders"])
            if orders > 0 and (best is None or (orders, name) > best):
                best = (orders, name)
        found = best[1] if best else None
        self._defaults[shown] = (len(self.view.closed_days), found)
        while len(self._defaults) > KEPT:  # any day a client names is a key: keep the newest few
            del self._defaults[next(iter(self._defaults))]
        return found

    def resolve(self, shown: str, chosen: str) -> str | None:
        return self.default(shown) if chosen == DEFAULT else None if chosen == NONE else chosen

    def body(self, day: str) -> dict[str, Any]:
        return self._entry(day)[1]

    def merchant_body(self, day: str, merchant: str) -> dict[str, Any]:
        """`day`'s compare object from `merchant`'s own figures of it, made once and shared too."""
        return self._summary(self._merchants, (day, merchant), MERCHANTS_KEPT, day,
                             lambda: self.view.merchant_snapshot(day, merchant))[1]

    def frame(self, day: str | None) -> str:
        """The websocket message for `day` (None: no comparison), encoded once and shared."""
        return encode("compare", {"compare": None}) if day is None else self._entry(day)[2]

    def _entry(self, day: str) -> tuple[float, dict[str, Any], str]:
        return self._summary(self._made, day, KEPT, day, lambda: self.view.snapshot(day))

    def _summary(self, made: OrderedDict[Any, tuple[float, dict[str, Any], str]], key: Any, kept: int,
                 day: str, figures: Callable[[], dict[str, Any]]) -> tuple[float, dict[str, Any], str]:
        """`day`'s summary from `made`, remade from `figures` when it is of an open day and older than
        OPEN_FRESH_S; the newest `kept` stay."""
        now = self._clock()
        entry = made.get(key)
        if entry is not None and (entry[1]["closed"] or now - entry[0] < OPEN_FRESH_S):
            made.move_to_end(key)
            return entry
        closed = day in self.view.closed_days
        body = summary(figures(), closed)
        entry = made[key] = (now, body, encode("compare", {"compare": body}))
        while len(made) > kept:
            made.popitem(last=False)
        return entry


class CompareViewer(Viewer):
    """A live viewer that may compare: once it has chosen (?compare= or a compare message), its compare
    message follows every snapshot it gets, and comes at once when it chooses another day. A viewer that
    never chose gets none: the protocol is unchanged for it."""

    def __init__(self, day: str, comparisons: Comparisons, chosen: str | None = None) -> None:
        super().__init__(day)
        self.comparisons = comparisons
        self.chosen = chosen
        self.extra: Frame | None = None  # a compare message due before anything else

    def choose(self, chosen: str) -> None:
        self.chosen = chosen
        self.extra = self._frame()
        self.wake.set()

    def next_message(self, snapshot: Callable[[str], Frame]) -> Frame | None:
        if self.extra is not None:
            extra, self.extra = self.extra, None
            if self.pending is not None or self.resync:
                self.wake.set()  # what came meanwhile goes next
            return extra
        resync = self.resync
        message = super().next_message(snapshot)
        if resync and self.chosen is not None:
            self.extra = self._frame()
            self.wake.set()
        return message

    def _frame(self) -> str:
        chosen = self.chosen or NONE
        return self.comparisons.frame(self.comparisons.resolve(self.day, chosen))


def handle(viewer: Viewer, request: dict[str, Any]) -> None:
    """A viewer's {"type": "compare", "day": "YYYY-MM-DD" | null}; anything malformed is ignored."""
    if not isinstance(viewer, CompareViewer) or "day" not in request:
        return
    day = request["day"]
    if day is None:
        viewer.choose(NONE)
    elif isinstance(day, str):
        try:
            viewer.choose(choice(day))
        except ValueError:
            return


def with_compare(body: dict[str, Any], comparisons: Comparisons, chosen: str, now_ms: int | None = None
                 ) -> bytes:
    """/api/snapshot?compare=: the day, plus the compare object and the comparison at the current minute
    (now's while the day runs, its last minute after)."""
    other = comparisons.resolve(body["day"], chosen)
    return orjson.dumps(_attached(body, None if other is None else comparisons.body(other), now_ms))


def with_merchant_compare(body: dict[str, Any], comparisons: Comparisons, now_ms: int | None = None
                          ) -> dict[str, Any]:
    """A merchant's snapshot (SalesView.merchant_snapshot) with the default compare day's object made of
    that merchant's own figures of it, and the comparison at the current minute: /api/snapshot?merchant=
    and the merchant's websocket snapshots."""
    other = comparisons.default(body["day"])
    return _attached(body, None if other is None else comparisons.merchant_body(other, body["merchant_id"]),
                     now_ms)


def _attached(body: dict[str, Any], compared: dict[str, Any] | None, now_ms: int | None) -> dict[str, Any]:
    if compared is None:
        return {**body, "compare": None, "comparison": None}
    at = minute_now(body["day"], int(time.time() * 1000) if now_ms is None else now_ms)
    return {**body, "compare": compared, "comparison": comparison(body, compared, at)}
