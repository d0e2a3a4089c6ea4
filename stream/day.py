"""One UTC day of sales in one partition: totals and the breakdowns the dashboard shows.

Merchants and products change a few at a time, so a checkpoint carries only the touched ones; the small
breakdowns (countries, channels) and the unique-shopper sketch are carried whole.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from stream.money import to_usd_cents
from stream.orders import Order
from stream.totals import Totals
from stream.uniques import Uniques


@dataclass(slots=True)
class Merchant:
    name: str
    sales: Totals


@dataclass(slots=True)
class Product:
    title: str
    merchant_id: str
    qty: int  # units sold less units refunded
    net_cents: int  # line values (qty × price, in USD) sold less refunded


class DaySales:
    __slots__ = ("_touched_merchants", "_touched_products", "channels", "countries", "customers",
                 "merchants", "products", "totals")

    def __init__(self) -> None:
        self.totals = Totals()
        self.countries: dict[str, Totals] = {}
        self.channels: dict[str, Totals] = {}
        self.merchants: dict[str, Merchant] = {}
        self.products: dict[str, Product] = {}
        self.customers = Uniques()
        self._touched_merchants: set[str] = set()
        self._touched_products: set[str] = set()

    def add(self, order: Order) -> None:
        self.totals.add(order)
        _totals(self.countries, order.country).add(order)
        _totals(self.channels, order.channel).add(order)
        merchant = self.merchants.get(order.merchant_id)
        if merchant is None:
            merchant = self.merchants[order.merchant_id] = Merchant(order.merchant_name, Totals())
        merchant.sales.add(order)
        self._touched_merchants.add(order.merchant_id)
        sign = -1 if order.is_refund else 1
        for line in order.lines:
            product = self.products.get(line.sku)
            if product is None:
                product = self.products[line.sku] = Product(line.title, order.merchant_id, 0, 0)
            product.qty += sign * line.qty
            product.net_cents += sign * to_usd_cents(line.qty * line.price_minor, order.currency)
            self._touched_products.add(line.sku)
        if not order.is_refund:
            self.customers.add(order.customer_id)

    def changes(self) -> dict[str, Any]:
        """The checkpoint entry for this day: what changed since the last call, as absolute values."""
        doc = {
            "totals": self.totals.to_list(),
            "countries": {k: t.to_list() for k, t in self.countries.items()},
            "channels": {k: t.to_list() for k, t in self.channels.items()},
            "merchants": {k: _merchant(self.merchants[k]) for k in self._touched_merchants},
            "products": {k: _product(self.products[k]) for k in self._touched_products},
            "customers": base64.b64encode(self.customers.to_bytes()).decode(),
        }
        self._touched_merchants.clear()
        self._touched_products.clear()
        return doc

    def apply(self, doc: dict[str, Any]) -> None:
        """Fold a checkpoint entry (the inverse of `changes`)."""
        self.totals = Totals.from_list(doc["totals"])
        self.countries = {k: Totals.from_list(v) for k, v in doc["countries"].items()}
        self.channels = {k: Totals.from_list(v) for k, v in doc["channels"].items()}
        for key, (name, *sales) in doc["merchants"].items():
            self.merchants[key] = Merchant(name, Totals.from_list(sales))
        for key, (title, merchant_id, qty, net) in doc["products"].items():
            self.products[key] = Product(title, merchant_id, qty, net)
        self.customers = Uniques.from_bytes(base64.b64decode(doc["customers"]))


def _totals(table: dict[str, Totals], key: str) -> Totals:
    totals = table.get(key)
    if totals is None:
        totals = table[key] = Totals()
    return totals


def _merchant(m: Merchant) -> list[Any]:
    return [m.name, *m.sales.to_list()]


def _product(p: Product) -> list[Any]:
    return [p.title, p.merchant_id, p.qty, p.net_cents]
