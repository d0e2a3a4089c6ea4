"""One UTC day of sales in one partition, as the worker counts it (DaySales) and as a reader holds it
(DayView), and the checkpoint entry that carries the one into the other.

The worker keeps every merchant and product of the day, because any of them may climb into the top ten;
a checkpoint carries only what changed since the previous one: the day's totals, the minutes, seconds,
countries and channels it touched (absolute values), the rows of the top ten merchants and products that
changed (and their order when it changed), the unique-shopper sketch when it is due, and the day's dead
letters, corrections and reroutes when they changed. A reader therefore holds per partition and day only
the totals, the breakdowns, the top tens and the sketch; a merchant's products live in its partition
(stream.core.routing), so the overall top ten is the top ten of the partitions' top tens.
"""

from __future__ import annotations

import base64
import heapq
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from stream.core import merchantday
from stream.core.merchantday import MerchantDay
from stream.core.order import Order
from stream.core.totals import Totals
from stream.core.uniques import Uniques

TOP = 10
# merchant row: [name, orders, gross_cents, refunds_cents]; product row: [title, qty, net_cents]
NAME, ORDERS, GROSS, REFUNDS = 0, 1, 2, 3
TITLE, QTY, NET = 0, 1, 2

Product = tuple[str, str]  # (merchant_id, sku): two merchants may use the same sku
Row = list[Any]


class Covered(NamedTuple):
    """A day's index in one partition: the input offsets of the records counted or tallied into it."""

    first: int
    last: int
    closed_end: int = -1  # the end of the checkpoint range that closed the day there; -1: still open

    @property
    def stop(self) -> int | None:
        """Reading up to here sees every record of the day and the day close (None: it is open)."""
        return self.closed_end if self.closed_end >= 0 else None


def merchant_net(row: list[Any]) -> int:
    return int(row[GROSS] - row[REFUNDS])


def product_net(row: list[Any]) -> int:
    return int(row[NET])


def _rows(table: dict[str, Totals]) -> dict[str, list[int]]:
    return {k: t.to_list() for k, t in table.items()}


class DaySales:
    """The worker's day in one partition: everything needed to keep counting it exactly.

    The per-order path does the sums and little else; what changed is worked out per checkpoint (a few a
    second) by comparing with what was last sent, not tracked per order.
    """

    __slots__ = ("_channels_sent", "_countries_sent", "_offsets_sent", "_sketch_orders", "_sketch_sent_ms",
                 "_top_m_sent", "_top_p_sent", "_totals_sent", "channels", "closed_end", "countries",
                 "customers", "dead", "details", "dirty_merchants", "explained", "first", "head_dirty",
                 "last", "late", "merchants", "minutes", "products", "rerouted", "seconds",
                 "shrank_merchants", "shrank_products", "tally_changed", "top_merchants", "top_products",
                 "totals", "touched_explained", "touched_merchants", "touched_minutes", "touched_seconds")

    def __init__(self) -> None:
        self.totals = Totals()
        self.minutes: dict[int, Totals] = {}
        self.seconds: dict[int, Totals] = {}
        self.countries: dict[str, Totals] = {}
        self.channels: dict[str, Totals] = {}
        self.merchants: dict[str, list[Any]] = {}
        self.products: dict[str, dict[str, list[Any]]] = {}  # merchant -> sku -> row
        self.details: dict[str, MerchantDay] = {}  # merchant -> its own minutes, channels, countries
        self.customers = Uniques()
        self.dead: dict[str, int] = {}  # dead letters by reason
        self.late = 0  # events that corrected an already final minute
        self.rerouted = 0  # valid orders found here whose merchant counts elsewhere
        self.explained: dict[int, list[int]] = {}  # minute -> [duplicates dropped, late corrections]
        self.touched_explained: set[int] = set()
        # The day index: the first and last input offset counted or tallied into the day (-1: none yet).
        self.first = -1
        self.last = -1
        self.closed_end = -1  # the end of the checkpoint range whose watermark closed the day (-1: open)
        self.top_merchants: list[str] = []
        self.top_products: list[Product] = []
        # What changed since the last checkpoint (touched_*) and since the last snapshot (dirty_*).
        self.touched_minutes: set[int] = set()
        self.touched_seconds: set[int] = set()
        self.touched_merchants: set[str] = set()  # their products are the candidates for the top ten
        self.shrank_merchants: set[str] = set()  # a refund: their rows went down and may leave the top
        self.shrank_products: set[Product] = set()
        self.tally_changed = False
        self.dirty_merchants: set[str] = set()
        self.head_dirty = False
        self._totals_sent: list[int] = [0, 0, 0]
        self._countries_sent: dict[str, list[int]] = {}
        self._channels_sent: dict[str, list[int]] = {}
        self._sketch_sent_ms = -(2**62)
        self._sketch_orders = 0  # orders when the sketch was last sent: more orders, maybe new shoppers
        self._top_m_sent: dict[str, list[Any]] = {}
        self._top_p_sent: dict[Product, list[Any]] = {}
        self._offsets_sent: list[int] | None = None

    def cover(self, offset: int) -> None:
        """The record at `offset` was counted or tallied into this day: the day's index covers it."""
        if self.first < 0:
            self.first = offset
        if offset > self.last:
            self.last = offset

    def add(self, order: Order, refund: bool, second: int = -1) -> None:
        """Count one order (or refund) of this day: called once per event, so every lookup counts.
        `second`: the start of its second, if that second is within the horizon (else -1)."""
        cents = order.usd_cents
        country = self.countries.get(order.country)
        if country is None:
            country = self.countries[order.country] = Totals()
        channel = self.channels.get(order.channel)
        if channel is None:
            channel = self.channels[order.channel] = Totals()
        merchant_id = order.merchant_id
        merchant = self.merchants.get(merchant_id)
        if merchant is None:
            merchant = self.merchants[merchant_id] = [order.merchant_name, 0, 0, 0]
            products = self.products[merchant_id] = {}
            detail = self.details[merchant_id] = MerchantDay()
        else:
            products = self.products[merchant_id]
            detail = self.details[merchant_id]
        detail.add(order, refund, second)
        self.touched_merchants.add(merchant_id)
        totals = self.totals
        if refund:
            totals.refunds_cents += cents
            country.refunds_cents += cents
            channel.refunds_cents += cents
            merchant[REFUNDS] += cents
            self.shrank_merchants.add(merchant_id)
            for line in order.lines:
                row = products.get(line.sku)
                if row is None:
                    row = products[line.sku] = [line.title, 0, 0]
                row[QTY] -= line.qty
                row[NET] -= line.usd_cents
                self.shrank_products.add((merchant_id, line.sku))
            return
        totals.orders += 1
        totals.gross_cents += cents
        country.orders += 1
        country.gross_cents += cents
        channel.orders += 1
        channel.gross_cents += cents
        merchant[ORDERS] += 1
        merchant[GROSS] += cents
        self.customers.add(order.customer_id)
        for line in order.lines:
            row = products.get(line.sku)
            if row is None:
                row = products[line.sku] = [line.title, 0, 0]
            row[QTY] += line.qty
            row[NET] += line.usd_cents

    def tally(self, reason: str | None = None, late: int = 0, rerouted: int = 0, offset: int = -1) -> None:
        """Count a dead letter, corrections or a reroute (of the record at `offset`) against this day."""
        if offset >= 0:
            self.cover(offset)
        if reason is not None:
            self.dead[reason] = self.dead.get(reason, 0) + 1
        self.late += late
        self.rerouted += rerouted
        self.tally_changed = True

    def explain(self, minute: int, duplicate: bool) -> None:
        """One more duplicate dropped, or late correction counted, in `minute` ("explain this number")."""
        row = self.explained.get(minute)
        if row is None:
            row = self.explained[minute] = [0, 0]
        row[0 if duplicate else 1] += 1
        self.touched_explained.add(minute)

    def product(self, key: Product) -> list[Any]:
        return self.products[key[0]][key[1]]

    def changes(self, now_ms: int, sketch_every_ms: int, seconds_from: int, closing: bool = False
                ) -> dict[str, Any]:
        """The checkpoint entry for this day: what changed since the last call, as absolute values. The
        sketch goes along when it changed and `sketch_every_ms` passed, or when the day is closing.
        `seconds_from`: the oldest second the day keeps (its merchants' seconds are pruned to it)."""
        totals = self.totals.to_list()
        doc: dict[str, Any] = {"t": totals}
        if self.touched_minutes:
            doc["m"] = {str(m): self.minutes[m].to_list() for m in self.touched_minutes}
        seconds = {str(s): self.seconds[s].to_list() for s in self.touched_seconds if s in self.seconds}
        if seconds:
            doc["s"] = seconds
        if totals != self._totals_sent:
            countries = _changed(self.countries, self._countries_sent)
            if countries:
                doc["co"] = countries
            channels = _changed(self.channels, self._channels_sent)
            if channels:
                doc["ch"] = channels
        top_m = self._rank_merchants()
        rows_m = {k: list(self.merchants[k]) for k in top_m if self._top_m_sent.get(k) != self.merchants[k]}
        if rows_m or top_m != self.top_merchants:
            doc["tm"] = {"ids": top_m, "rows": rows_m}
        top_p = self._rank_products()
        rows_p = [[m, s, *self.products[m][s]] for m, s in top_p
                  if self._top_p_sent.get((m, s)) != self.products[m][s]]
        if rows_p or top_p != self.top_products:
            doc["tp"] = {"ids": [list(k) for k in top_p], "rows": rows_p}
        self.top_merchants, self.top_products = top_m, top_p
        self._top_m_sent = {k: list(self.merchants[k]) for k in top_m}
        self._top_p_sent = {k: list(self.product(k)) for k in top_p}
        if self.sketch_dirty and (closing or now_ms - self._sketch_sent_ms >= sketch_every_ms):
            doc["u"] = base64.b64encode(self.customers.to_bytes()).decode()
            self._sketch_sent_ms = now_ms
            self._sketch_orders = self.totals.orders
        if self.tally_changed:
            doc["x"], doc["late"], doc["rr"] = dict(self.dead), self.late, self.rerouted
        details = {m: self.details[m].changes(self.merchants[m], self.products[m], seconds_from)
                   for m in self.touched_merchants if self.details[m].touched}
        if details:
            doc["mm"] = details
        if self.touched_explained:
            doc["xm"] = {str(m): list(self.explained[m]) for m in self.touched_explained}
            self.touched_explained.clear()
            self.head_dirty = True
        offsets = self.offsets
        if offsets is not None and offsets != self._offsets_sent:
            doc["o"] = self._offsets_sent = offsets
        self.head_dirty = self.head_dirty or totals != self._totals_sent or self.tally_changed
        self._totals_sent = totals
        self.dirty_merchants |= self.touched_merchants
        for touched in (self.touched_minutes, self.touched_seconds, self.touched_merchants,
                        self.shrank_merchants, self.shrank_products):
            touched.clear()
        self.tally_changed = False
        return doc

    @property
    def offsets(self) -> list[int] | None:
        """`[first, last]` input offset of the day's records, and once closed the end of the range that
        closed it; None before the first record."""
        if self.first < 0:
            return None
        return [self.first, self.last] if self.closed_end < 0 else [self.first, self.last, self.closed_end]

    @property
    def sketch_dirty(self) -> bool:
        return self.totals.orders != self._sketch_orders

    @property
    def pending(self) -> bool:
        """Something changed since the last checkpoint entry (the sketch alone counts too)."""
        return bool(self.touched_merchants) or self.tally_changed or self.sketch_dirty \
            or bool(self.touched_explained)

    def _rank_merchants(self) -> list[str]:
        return _rank(self.merchants, self.top_merchants, self.touched_merchants, self.shrank_merchants,
                     merchant_net)

    def _rank_products(self) -> list[Product]:
        # Candidates: the top ten and every product of a merchant that sold since the last entry.
        if any(k in self.shrank_products for k in self.top_products):  # one may make room: rank them all
            everything = ((m, s) for m, rows in self.products.items() for s in rows)
            return heapq.nsmallest(TOP, everything, key=lambda key: (-product_net(self.product(key)), key))
        touched = {(m, s): row for m in self.touched_merchants for s, row in self.products[m].items()}
        if not touched:
            return self.top_products
        table = {**{k: self.product(k) for k in self.top_products}, **touched}
        return _rank(table, self.top_products, set(touched), set(), product_net)

    def head(self) -> dict[str, Any]:
        """The day as a reader needs it whole (a snapshot's day record): no row outside the top tens."""
        return {
            "t": self.totals.to_list(),
            "m": {str(m): t.to_list() for m, t in self.minutes.items()},
            "s": {str(s): t.to_list() for s, t in self.seconds.items()},
            "co": _rows(self.countries), "ch": _rows(self.channels),
            "tm": {"ids": self.top_merchants, "rows": {k: self.merchants[k] for k in self.top_merchants}},
            "tp": {"ids": [list(k) for k in self.top_products],
                   "rows": [[m, s, *self.products[m][s]] for m, s in self.top_products]},
            "u": base64.b64encode(self.customers.to_bytes()).decode(),
            "x": dict(self.dead), "late": self.late, "rr": self.rerouted,
            "xm": {str(m): row for m, row in self.explained.items()},
            **({"o": self.offsets} if self.first >= 0 else {}),
        }

    def rows(self, merchants: set[str]) -> tuple[list[tuple[str, Row]], list[tuple[Product, Row]]]:
        """The merchant rows and all product rows of `merchants` (a snapshot's rows of what changed)."""
        return ([(m, self.merchants[m]) for m in merchants],
                [((m, s), row) for m in merchants for s, row in self.products[m].items()])

    @classmethod
    def restore(cls, head: dict[str, Any], merchants: dict[str, list[Any]],
                products: dict[Product, list[Any]], details: dict[str, dict[str, Any]] | None = None
                ) -> DaySales:
        """The day from a snapshot: its head, every merchant and product row, and the merchants' details."""
        day = cls()
        day.totals = Totals.from_list(head["t"])
        day.minutes = {int(m): Totals.from_list(v) for m, v in head["m"].items()}
        day.seconds = {int(s): Totals.from_list(v) for s, v in head["s"].items()}
        day.countries = {k: Totals.from_list(v) for k, v in head["co"].items()}
        day.channels = {k: Totals.from_list(v) for k, v in head["ch"].items()}
        day.merchants = merchants
        for merchant in merchants:
            day.products[merchant] = {}
            found = (details or {}).get(merchant)
            day.details[merchant] = MerchantDay() if found is None else MerchantDay.restore(found)
        for (merchant, sku), row in products.items():
            day.products.setdefault(merchant, {})[sku] = row
        day.top_merchants = [k for k in head["tm"]["ids"] if k in merchants]
        day.top_products = [(m, s) for m, s in head["tp"]["ids"] if s in day.products.get(m, {})]
        day._top_m_sent = {k: list(merchants[k]) for k in day.top_merchants}
        day._top_p_sent = {k: list(day.product(k)) for k in day.top_products}
        day._totals_sent = day.totals.to_list()
        day._countries_sent = {k: t.to_list() for k, t in day.countries.items()}
        day._channels_sent = {k: t.to_list() for k, t in day.channels.items()}
        day.customers = Uniques.from_bytes(base64.b64decode(head["u"]))
        day._sketch_orders = day.totals.orders
        day.dead, day.late, day.rerouted = dict(head["x"]), int(head["late"]), int(head["rr"])
        day.explained = {int(m): list(row) for m, row in head.get("xm", {}).items()}
        if "o" in head:  # day records written before the day index have none
            day.first, day.last, *closed = (int(n) for n in head["o"])
            day.closed_end = closed[0] if closed else -1
            day._offsets_sent = day.offsets
        return day

    def resend(self) -> None:
        """After a recovery: the next entry carries the top tens' rows, the breakdowns and the sketch
        again, whatever the readers may already hold."""
        self._top_m_sent, self._top_p_sent = {}, {}
        self._countries_sent, self._channels_sent = {}, {}
        self._totals_sent = [-1, -1, -1]
        self._sketch_sent_ms = -(2**62)
        self._sketch_orders = -1
        self._offsets_sent = None
        self.touched_merchants.update(self.top_merchants)

    def forget_seconds_before(self, oldest: int) -> None:
        if self.seconds and min(self.seconds) < oldest:
            self.seconds = {s: t for s, t in self.seconds.items() if s >= oldest}


def _changed(table: dict[str, Totals], sent: dict[str, list[int]]) -> dict[str, list[int]]:
    """Rows that differ from what was last sent, as absolute values; `sent` is brought up to date."""
    out = {}
    for key, totals in table.items():
        values = totals.to_list()
        if sent.get(key) != values:
            out[key] = sent[key] = values
    return out


def _rank(table: dict[Any, list[Any]], top: list[Any], touched: set[Any], shrank: set[Any],
          net: Callable[[list[Any]], int]) -> list[Any]:
    # Incremental: unchanged rows outside the top cannot have passed one in it. Only a row of the top that
    # went down (a refund) may have to make room for one outside, and forces a full re-rank.
    if any(key in shrank for key in top):
        candidates: Iterable[Any] = table.keys()
    elif not touched:
        return top
    else:
        candidates = {*top, *touched}
    return heapq.nsmallest(TOP, candidates, key=lambda key: (-net(table[key]), key))  # ties: key ascending


class DayView:
    """A reader's day in one partition, folded from checkpoint entries (and a snapshot's day record)."""

    __slots__ = ("channels", "countries", "dead", "details", "explained", "late", "merchants", "minutes",
                 "offsets", "products", "rerouted", "seconds", "sketch", "top_merchants", "top_products",
                 "totals")

    def __init__(self) -> None:
        self.totals = Totals()
        self.minutes: dict[int, Totals] = {}
        self.seconds: dict[int, Totals] = {}
        self.countries: dict[str, Totals] = {}
        self.channels: dict[str, Totals] = {}
        self.top_merchants: list[str] = []
        self.merchants: dict[str, list[Any]] = {}  # rows of the top merchants only
        self.top_products: list[Product] = []
        self.products: dict[Product, list[Any]] = {}  # rows of the top products only
        self.sketch: bytes | None = None
        self.dead: dict[str, int] = {}
        self.late = 0
        self.rerouted = 0
        self.details: dict[str, dict[str, Any]] = {}  # every merchant of the day: stream.core.merchantday
        self.explained: dict[str, list[int]] = {}  # minute -> [duplicates dropped, late corrections]
        self.offsets: Covered | None = None  # the day index

    def apply(self, doc: dict[str, Any]) -> None:
        """Fold one checkpoint entry (or a day record, which carries everything)."""
        self.totals = Totals.from_list(doc["t"])
        for key, values in doc.get("co", {}).items():
            self.countries[key] = Totals.from_list(values)
        for key, values in doc.get("ch", {}).items():
            self.channels[key] = Totals.from_list(values)
        top_m = doc.get("tm")
        if top_m is not None:
            self.merchants.update(top_m["rows"])
            self.top_merchants = list(top_m["ids"])
            self.merchants = {k: self.merchants[k] for k in self.top_merchants}
        top_p = doc.get("tp")
        if top_p is not None:
            self.products.update(((m, s), row) for m, s, *row in top_p["rows"])
            self.top_products = [(m, s) for m, s in top_p["ids"]]
            self.products = {k: self.products[k] for k in self.top_products}
        sketch = doc.get("u")
        if sketch is not None:
            self.sketch = base64.b64decode(sketch)
        if "x" in doc:
            self.dead, self.late, self.rerouted = dict(doc["x"]), int(doc["late"]), int(doc["rr"])
        self.explained.update(doc.get("xm", {}))
        for merchant, detail in doc.get("mm", {}).items():
            self.details[merchant] = merchantday.fold(self.details.get(merchant), detail)
        offsets = doc.get("o")
        if offsets is not None:
            self.offsets = Covered(*(int(n) for n in offsets))

    def customers(self) -> Uniques:
        return Uniques() if self.sketch is None else Uniques.from_bytes(self.sketch)
