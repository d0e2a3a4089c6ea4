"""One merchant's own day in its home partition (stream.core.routing): its minutes, channels and countries,
exact, counted beside the partition's figures so a merchant's view is the worker's truth, not a filter.

A merchant lives in one partition, so these are that partition's business alone. The worker sends a
merchant's detail only when it sold since the last checkpoint, and then only the minutes it touched
(`changes`, under the day's "mm" key); its whole detail (`whole`) is a row of the state topic, written when
it changed since the last snapshot and kept after the day closes (a past day is a compare day). A
detail document: {"r": merchant row, "m": {minute: [orders, gross, refunds]}, "ch": {...}, "co": {...},
"tp": the merchant's top ten product rows [sku, title, qty, net], and while the day is open "s": {second:
[orders, gross, refunds]} with "sf", the oldest second still kept}. Every value is absolute: folding the
documents in order (`fold`) gives the newest.

Seconds follow the day's own rule (stream.core.partition): an order counts in its second only if that
second is within the seconds horizon of the watermark when it is counted, so a merchant's seconds sum,
over merchants, to the day's. They are dropped a little after they leave the horizon (at most
`SECONDS_SLACK_MS` later: pruning is amortized, a reader shows only those within it) and when the day
closes, so a merchant holds at most the horizon plus a minute of seconds, and a closed day none.
"""

from __future__ import annotations

import heapq
from typing import Any, TypeVar

from stream.core.eventtime import MINUTE_MS
from stream.core.order import Order
from stream.core.totals import Totals

TOP = 10
SECONDS_SLACK_MS = 60_000  # seconds past the horizon are pruned once they are this far past it
Doc = dict[str, Any]
_Second = TypeVar("_Second", int, str)  # a second's key: the worker's int, a document's str
_Cell = TypeVar("_Cell")
EMPTY: Doc = {"r": ["", 0, 0, 0], "m": {}, "ch": {}, "co": {}, "tp": []}  # a merchant that sold nothing


class MerchantDay:
    __slots__ = ("channels", "countries", "minutes", "seconds", "touched", "touched_seconds")

    def __init__(self) -> None:
        self.minutes: dict[int, Totals] = {}
        self.seconds: dict[int, Totals] = {}  # in the order first sold in: mostly oldest first
        self.channels: dict[str, Totals] = {}
        self.countries: dict[str, Totals] = {}
        self.touched: set[int] = set()  # minutes changed since the last checkpoint entry
        self.touched_seconds: set[int] = set()

    def add(self, order: Order, refund: bool, second: int = -1) -> None:
        """Count one order; `second` is its second's start, or -1 if that second is past the horizon.
        Called once per order: the bumps are inline, not a call a Totals."""
        ts = order.occurred_at
        minute = ts - ts % MINUTE_MS
        self.touched.add(minute)
        cents = order.usd_cents
        minutes, channels, countries = self.minutes, self.channels, self.countries
        own_minute = minutes.get(minute) or _new(minutes, minute)
        channel = channels.get(order.channel) or _new(channels, order.channel)
        country = countries.get(order.country) or _new(countries, order.country)
        own_second = None
        if second >= 0:
            self.touched_seconds.add(second)
            own_second = self.seconds.get(second) or _new(self.seconds, second)
        if refund:
            own_minute.refunds_cents += cents
            channel.refunds_cents += cents
            country.refunds_cents += cents
            if own_second is not None:
                own_second.refunds_cents += cents
            return
        own_minute.orders += 1
        own_minute.gross_cents += cents
        channel.orders += 1
        channel.gross_cents += cents
        country.orders += 1
        country.gross_cents += cents
        if own_second is not None:
            own_second.orders += 1
            own_second.gross_cents += cents

    def changes(self, row: list[Any], products: dict[str, list[Any]], seconds_from: int) -> Doc:
        """The checkpoint's entry for this merchant: the minutes and seconds touched since the last one,
        the rest whole (a merchant sells in a handful of channels and countries). `seconds_from`: the
        oldest second the day still keeps."""
        self.seconds = _pruned(self.seconds, seconds_from)
        doc = self._doc(row, products, sorted(self.touched),
                        sorted(s for s in self.touched_seconds if s in self.seconds), seconds_from)
        self.touched.clear()
        self.touched_seconds.clear()
        return doc

    def whole(self, row: list[Any], products: dict[str, list[Any]], seconds_from: int | None) -> Doc:
        """The merchant's whole detail (a state row); `seconds_from` None: the day is closed, no seconds."""
        if seconds_from is None:
            return self._doc(row, products, sorted(self.minutes), [], 0)
        self.seconds = _pruned(self.seconds, seconds_from)
        return self._doc(row, products, sorted(self.minutes), sorted(self.seconds), seconds_from)

    def _doc(self, row: list[Any], products: dict[str, list[Any]], minutes: list[int], seconds: list[int],
             seconds_from: int) -> Doc:
        doc: Doc = {"r": list(row), "m": {str(m): self.minutes[m].to_list() for m in minutes},
                    "ch": _rows(self.channels), "co": _rows(self.countries), "tp": top_products(products)}
        if seconds:
            doc["s"] = {str(s): self.seconds[s].to_list() for s in seconds}
            doc["sf"] = seconds_from
        return doc

    @classmethod
    def restore(cls, doc: Doc) -> MerchantDay:
        day = cls()
        day.minutes = {int(m): Totals.from_list(v) for m, v in doc["m"].items()}
        day.seconds = dict(sorted((int(s), Totals.from_list(v)) for s, v in doc.get("s", {}).items()))
        day.channels = {k: Totals.from_list(v) for k, v in doc["ch"].items()}
        day.countries = {k: Totals.from_list(v) for k, v in doc["co"].items()}
        return day


def seconds_shown(doc: Doc, seconds_from: int) -> list[tuple[int, Totals]]:
    """A reader's seconds of the merchant from `seconds_from` on (the day's horizon), oldest first."""
    seconds = ((int(s), v) for s, v in doc.get("s", {}).items())
    return sorted((s, Totals.from_list(v)) for s, v in seconds if s >= seconds_from)


def top_products(products: dict[str, list[Any]]) -> list[list[Any]]:
    """The merchant's ten best products by net, ties by sku ascending (docs/events.md's one order)."""
    best = heapq.nsmallest(TOP, products.items(), key=lambda kv: (-kv[1][2], kv[0]))
    return [[sku, *row] for sku, row in best]


def fold(held: Doc | None, doc: Doc) -> Doc:
    """A reader's detail after one more document: minutes and seconds update (seconds well past the
    horizon dropped), everything else is replaced."""
    if held is None:
        held = {**doc, "m": dict(doc["m"])}
        if "s" in doc:
            held["s"] = dict(doc["s"])
        return held
    held["m"].update(doc["m"])
    for key in ("r", "ch", "co", "tp"):
        held[key] = doc[key]
    if "s" in doc:
        seconds = held.setdefault("s", {})
        seconds.update(doc["s"])
        held["sf"] = doc["sf"]
        held["s"] = _pruned(seconds, doc["sf"])
    return held


def _pruned(seconds: dict[_Second, _Cell], oldest: int) -> dict[_Second, _Cell]:
    """The seconds from `oldest` on (the worker's by int, a reader's by str). Amortized: the first second
    (mostly the oldest) a minute past `oldest` sets off one pass over all."""
    if seconds and int(next(iter(seconds))) < oldest - SECONDS_SLACK_MS:
        return {s: t for s, t in seconds.items() if int(s) >= oldest}
    return seconds


def _rows(table: dict[str, Totals]) -> dict[str, list[int]]:
    return {k: t.to_list() for k, t in table.items()}


def _new(table: dict[Any, Totals], key: Any) -> Totals:
    totals = table[key] = Totals()
    return totals
