"""One UTC day of sales in one partition: totals and the breakdowns the dashboard shows.

Merchants and products change a few at a time, so a checkpoint carries only the touched ones; the small
breakdowns (countries, channels) and the unique-shopper sketch are carried whole. Merchant and product
rows are plain lists, serialised as they stand: this is the per-event hot path.
"""

from __future__ import annotations

import base64
import heapq
from typing import Any

import orjson

from stream.core.money import USD_CENTS
from stream.core.order import Line, Order
from stream.core.totals import Totals
from stream.core.uniques import Uniques

TOP = 10
# merchant row: [name, orders, gross_cents, refunds_cents]; product row: [title, merchant_id, qty, net_cents]
NAME, ORDERS, GROSS, REFUNDS = 0, 1, 2, 3
TITLE, MERCHANT, QTY, NET = 0, 1, 2, 3


def merchant_net(row: list[Any]) -> int:
    return int(row[GROSS] - row[REFUNDS])


class DaySales:
    __slots__ = ("_touched_merchants", "_touched_products", "channels", "countries", "customers",
                 "merchants", "products", "top_merchants", "top_products", "totals")

    def __init__(self) -> None:
        self.totals = Totals()
        self.countries: dict[str, Totals] = {}
        self.channels: dict[str, Totals] = {}
        self.merchants: dict[str, list[Any]] = {}
        self.products: dict[str, list[Any]] = {}
        self.customers = Uniques()
        self.top_merchants: list[str] = []  # kept by `apply` (readers), not by `add` (the worker)
        self.top_products: list[str] = []
        self._touched_merchants: set[str] = set()
        self._touched_products: set[str] = set()

    def add(self, order: Order, refund: bool) -> None:
        """Count one order (or refund) of this day: called once per event, so every lookup counts."""
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
        self._touched_merchants.add(merchant_id)
        totals = self.totals
        converted = USD_CENTS[order.currency]
        products, touched = self.products, self._touched_products
        if refund:
            totals.refunds_cents += cents
            country.refunds_cents += cents
            channel.refunds_cents += cents
            merchant[REFUNDS] += cents
            for line in order.lines:
                product = _product(products, line, merchant_id)
                product[QTY] -= line.qty
                product[NET] -= converted[line.qty * line.price_minor]
                touched.add(line.sku)
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
            sku = line.sku
            row = products.get(sku)
            if row is None:
                row = products[sku] = [line.title, merchant_id, 0, 0]
            qty = line.qty
            row[QTY] += qty
            row[NET] += converted[qty * line.price_minor]
            touched.add(sku)

    def changes(self) -> dict[str, Any]:
        """The checkpoint entry for this day: what changed since the last call, as absolute values."""
        merchants, products = self.merchants, self.products
        doc = {
            "totals": self.totals.to_list(),
            "countries": {k: t.to_list() for k, t in self.countries.items()},
            "channels": {k: t.to_list() for k, t in self.channels.items()},
            # Serialised now: the rows are live and keep changing after this call.
            "merchants": orjson.Fragment(orjson.dumps({k: merchants[k] for k in self._touched_merchants})),
            "products": orjson.Fragment(orjson.dumps({k: products[k] for k in self._touched_products})),
            "customers": base64.b64encode(self.customers.to_bytes()).decode(),
        }
        self._touched_merchants.clear()
        self._touched_products.clear()
        return doc

    def apply(self, doc: dict[str, Any]) -> None:
        """Fold a checkpoint entry (the inverse of `changes`), keeping the top lists up to date."""
        self.totals = Totals.from_list(doc["totals"])
        self.countries = {k: Totals.from_list(v) for k, v in doc["countries"].items()}
        self.channels = {k: Totals.from_list(v) for k, v in doc["channels"].items()}
        self.top_merchants = _update_top(self.merchants, doc["merchants"], self.top_merchants, merchant_net)
        self.top_products = _update_top(self.products, doc["products"], self.top_products, _product_net)
        self.customers = Uniques.from_bytes(base64.b64decode(doc["customers"]))


def _product(products: dict[str, list[Any]], line: Line, merchant_id: str) -> list[Any]:
    product = products.get(line.sku)
    if product is None:
        product = products[line.sku] = [line.title, merchant_id, 0, 0]
    return product


def _product_net(row: list[Any]) -> int:
    return int(row[NET])


def _update_top(table: dict[str, list[Any]], changed: dict[str, list[Any]], top: list[str],
                net: Any) -> list[str]:
    # Incremental: only a row that went down while in the top forces a full re-rank (a refund).
    shrank = any(key in changed and net(changed[key]) < net(table[key]) for key in top)
    table.update(changed)
    candidates = table.keys() if shrank else {*top, *changed}
    return heapq.nlargest(TOP, candidates, key=lambda key: (net(table[key]), key))
