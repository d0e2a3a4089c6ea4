"""A deterministic shop-traffic model: merchants, products, shoppers and the order events they make."""

from __future__ import annotations

import random
import uuid
from typing import Any

from stream.money import CURRENCIES
from stream.orders import ORDER_PLACED, ORDER_REFUNDED

# (country, weight, currency): big markets first, each buyer pays in the local currency.
COUNTRIES: list[tuple[str, int, str]] = [
    ("US", 40, "USD"), ("GB", 9, "GBP"), ("DE", 8, "EUR"), ("CA", 6, "CAD"), ("FR", 5, "EUR"),
    ("AU", 4, "AUD"), ("JP", 4, "JPY"), ("NL", 3, "EUR"), ("IT", 3, "EUR"), ("ES", 3, "EUR"),
    ("SE", 2, "SEK"), ("CH", 2, "CHF"), ("PL", 2, "PLN"), ("BR", 3, "BRL"), ("MX", 2, "MXN"),
    ("IN", 2, "INR"), ("KR", 1, "KRW"), ("KW", 1, "KWD"),
]
CHANNELS: list[tuple[str, int]] = [("online", 55), ("mobile", 30), ("pos", 10), ("social", 5)]
# Real shop names are messy: quotes, markup-looking text and non-ASCII must all survive the trip.
_NAMES = ["Ölberg Outfitters", "Café “Zuckerl”", "<b>Bold</b> Deals", "O'Reilly & Sons", "東京ギア",
          "Łódź Lamps", "Ñandú Sports", 'The "Best" Buy', "Müller Möbel", "São Paulo Surf"]
_WORDS = ["Mug", "Hoodie", "Lamp", "Sneaker", "Backpack", "Candle", "Poster", "Scarf", "Headphones", "Tent"]


class Model:
    def __init__(self, seed: int = 1, merchants: int = 2000, refund_rate: float = 0.02) -> None:
        self.rng = random.Random(seed)
        self.refund_rate = refund_rate
        rng = self.rng
        self.merchants = [
            (f"m{i:05d}", f"{_NAMES[i % len(_NAMES)]} #{i}" if i >= len(_NAMES) else _NAMES[i])
            for i in range(merchants)
        ]
        # Zipf-like popularity: a few merchants take most of the orders.
        self.merchant_weights = [1.0 / (rank + 1) ** 1.1 for rank in range(merchants)]
        self._country_weights = [w for _, w, _ in COUNTRIES]
        self._channel_weights = [w for _, w in CHANNELS]
        self._recent: list[dict[str, Any]] = []  # placed orders that a later refund may point at
        self._uuid_bits = rng.getrandbits

    def _id(self) -> str:
        return str(uuid.UUID(int=self._uuid_bits(128), version=4))

    def next_event(self, occurred_at: int) -> dict[str, Any]:
        if self._recent and self.rng.random() < self.refund_rate:
            return self._refund(occurred_at)
        return self._order(occurred_at)

    def _order(self, occurred_at: int) -> dict[str, Any]:
        rng = self.rng
        merchant_id, merchant_name = rng.choices(self.merchants, self.merchant_weights)[0]
        country, _, currency = rng.choices(COUNTRIES, self._country_weights)[0]
        exponent = CURRENCIES[currency].exponent
        lines = []
        for _ in range(min(12, max(1, int(rng.lognormvariate(0.3, 0.6))))):
            product = rng.randrange(50)
            price_major = round(rng.lognormvariate(3.2, 0.9), 2)
            lines.append({
                "sku": f"{merchant_id}-p{product:03d}",
                "title": f"{_WORDS[product % len(_WORDS)]} {product}",
                "qty": rng.choice((1, 1, 1, 2, 3)),
                "price_minor": max(1, int(price_major * 10**exponent / _rate_of(currency))),
            })
        event = {
            "event_id": self._id(), "type": ORDER_PLACED, "order_id": self._id(),
            "occurred_at": occurred_at, "merchant_id": merchant_id, "merchant_name": merchant_name,
            "country": country, "channel": rng.choices(CHANNELS, self._channel_weights)[0][0],
            "currency": currency, "total_minor": sum(line["qty"] * line["price_minor"] for line in lines),
            "customer_id": f"c{rng.randrange(200_000):06d}", "lines": lines,
        }
        self._recent.append(event)
        if len(self._recent) > 10_000:
            del self._recent[:5_000]
        return event

    def _refund(self, occurred_at: int) -> dict[str, Any]:
        original = self._recent.pop(self.rng.randrange(len(self._recent)))
        return {**original, "event_id": self._id(), "type": ORDER_REFUNDED,
                "occurred_at": max(occurred_at, original["occurred_at"])}


def _rate_of(currency: str) -> float:
    # Only to make local prices look local; money itself never goes through floats.
    return float(CURRENCIES[currency].usd_rate)
