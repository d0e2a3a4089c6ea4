"""One merchant's own day in its home partition (stream.core.routing): its minutes, channels and countries,
exact, counted beside the partition's figures so a merchant's view is the worker's truth, not a filter.

A merchant lives in one partition, so these are that partition's business alone. The worker sends a
merchant's detail only when it sold since the last checkpoint, and then only the minutes it touched
(`changes`, under the day's "mm" key); its whole detail (`whole`) is a row of the state topic, written when
it changed since the last snapshot and kept after the day closes (a past day is a compare day). A
detail document: {"r": merchant row, "m": {minute: [orders, gross, refunds]}, "ch": {...}, "co": {...},
"tp": the merchant's top ten product rows [sku, title, qty, net]}. Every value is absolute: folding the
documents in order (`fold`) gives the newest.
"""

from __future__ import annotations

import heapq
from typing import Any

from stream.core.eventtime import MINUTE_MS
from stream.core.order import Order
from stream.core.totals import Totals

TOP = 10
Doc = dict[str, Any]
EMPTY: Doc = {"r": ["", 0, 0, 0], "m": {}, "ch": {}, "co": {}, "tp": []}  # a merchant that sold nothing


class MerchantDay:
    __slots__ = ("channels", "countries", "minutes", "touched")

    def __init__(self) -> None:
        self.minutes: dict[int, Totals] = {}
        self.channels: dict[str, Totals] = {}
        self.countries: dict[str, Totals] = {}
        self.touched: set[int] = set()  # minutes changed since the last checkpoint entry

    def add(self, order: Order, refund: bool) -> None:
        ts = order.occurred_at
        minute = ts - ts % MINUTE_MS
        self.touched.add(minute)
        cents = order.usd_cents
        totals = self.minutes.get(minute)
        if totals is None:
            totals = self.minutes[minute] = Totals()
        _bump(totals, cents, refund)
        for table, key in ((self.channels, order.channel), (self.countries, order.country)):
            totals = table.get(key)
            if totals is None:
                totals = table[key] = Totals()
            _bump(totals, cents, refund)

    def changes(self, row: list[Any], products: dict[str, list[Any]]) -> Doc:
        """The checkpoint's entry for this merchant: the minutes touched since the last one, the rest whole
        (a merchant sells in a handful of channels and countries)."""
        doc = self._doc(row, products, sorted(self.touched))
        self.touched.clear()
        return doc

    def whole(self, row: list[Any], products: dict[str, list[Any]]) -> Doc:
        return self._doc(row, products, sorted(self.minutes))

    def _doc(self, row: list[Any], products: dict[str, list[Any]], minutes: list[int]) -> Doc:
        return {"r": list(row), "m": {str(m): self.minutes[m].to_list() for m in minutes},
                "ch": _rows(self.channels), "co": _rows(self.countries), "tp": top_products(products)}

    @classmethod
    def restore(cls, doc: Doc) -> MerchantDay:
        day = cls()
        day.minutes = {int(m): Totals.from_list(v) for m, v in doc["m"].items()}
        day.channels = {k: Totals.from_list(v) for k, v in doc["ch"].items()}
        day.countries = {k: Totals.from_list(v) for k, v in doc["co"].items()}
        return day


def top_products(products: dict[str, list[Any]]) -> list[list[Any]]:
    """The merchant's ten best products by net, ties by sku ascending (docs/events.md's one order)."""
    best = heapq.nsmallest(TOP, products.items(), key=lambda kv: (-kv[1][2], kv[0]))
    return [[sku, *row] for sku, row in best]


def fold(held: Doc | None, doc: Doc) -> Doc:
    """A reader's detail after one more document: minutes update, everything else is replaced."""
    if held is None:
        return {**doc, "m": dict(doc["m"])}
    held["m"].update(doc["m"])
    for key in ("r", "ch", "co", "tp"):
        held[key] = doc[key]
    return held


def _rows(table: dict[str, Totals]) -> dict[str, list[int]]:
    return {k: t.to_list() for k, t in table.items()}


def _bump(totals: Totals, cents: int, refund: bool) -> None:
    if refund:
        totals.refunds_cents += cents
    else:
        totals.orders += 1
        totals.gross_cents += cents
